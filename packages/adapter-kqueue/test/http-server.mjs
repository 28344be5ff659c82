// A plain node:http server on 127.0.0.1:0, run as a child process so that a test blocking its
// own thread in kevent() (KqueueReactor.run) still gets answers, and so the server's fds are
// not counted as the test's. Reports its port over IPC; 'close' ends it.
//   /bytes/N   200 with N bytes of 'x'
//   /delay/MS  200 'ok' after MS ms
//   /echo      200 with the number of request body bytes received
//   /early     200 'early' at once, before the request body is read (then the body is drained)
import http from 'node:http';

const server = http.createServer((req, res) => {
  const [, route, arg] = req.url.split('/');
  const n = Number(arg);
  if (route === 'bytes') {
    res.setHeader('content-length', n);
    res.end(Buffer.alloc(n, 'x'));
  } else if (route === 'delay') {
    setTimeout(() => res.end('ok'), n);
  } else if (route === 'echo') {
    let received = 0;
    req.on('data', (chunk) => {
      received += chunk.length;
    });
    req.on('end', () => res.end(String(received)));
  } else if (route === 'early') {
    res.end('early');
    req.resume();
  } else {
    res.statusCode = 404;
    res.end();
  }
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (message) => {
  // Exit at once: a held /delay response would otherwise keep the process alive.
  if (message === 'close') process.exit(0);
});
