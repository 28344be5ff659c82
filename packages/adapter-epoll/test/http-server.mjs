// A plain node:http server on 127.0.0.1:0, run as a child process so that a test blocking its
// own thread in epoll_wait (EpollReactor.run) still gets answers, and so the server's fds are
// not counted as the test's. Reports its port over IPC; 'close' ends it.
//   /bytes/N   200 with N bytes
//   /delay/MS  200 'ok' after MS ms
//   /dribble   'first', then 'second' 300 ms later
//   /gate/N    held: once N /gate requests wait, the parent gets { gate: 'waiting' }; its
//              'release' answers them all at once, then it gets { gate: 'released' }
//   /status/N  that status, empty body
import http from 'node:http';

const gate = [];
const server = http.createServer((req, res) => {
  const [, route, arg] = req.url.split('/');
  const n = Number(arg);
  if (route === 'bytes') {
    res.setHeader('content-length', n);
    res.end(Buffer.alloc(n, 'x'));
  } else if (route === 'delay') {
    setTimeout(() => res.end('ok'), n);
  } else if (route === 'dribble') {
    res.write('first');
    setTimeout(() => res.end('second'), 300);
  } else if (route === 'gate') {
    gate.push(res);
    if (gate.length === n) process.send({ gate: 'waiting' });
  } else if (route === 'status') {
    res.statusCode = n;
    res.end();
  } else {
    res.statusCode = 404;
    res.end();
  }
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (message) => {
  if (message === 'release') {
    let left = gate.length;
    for (const waiting of gate.splice(0)) {
      waiting.end('released', () => {
        if (--left === 0) process.send({ gate: 'released' });
      });
    }
  }
  // Exit at once: a held /delay response would otherwise keep the process alive.
  if (message === 'close') process.exit(0);
});
