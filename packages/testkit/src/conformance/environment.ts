import { type CertificateSet, makeCertificates } from '../servers/certificates.js';
import { startHttp2Server } from '../servers/http2.js';
import type { Http2TestServer, TestServer } from '../servers/types.js';
import { startUnacceptingServer } from '../servers/unaccepting.js';
import { startHttpServer, startTlsServer } from '../servers/uws.js';

/** The servers the conformance checks share: started once per suite, closed at its end. */
export interface ConformanceEnvironment {
  readonly http: TestServer;
  readonly tls: TestServer;
  readonly h2c: Http2TestServer;
  /** HTTP/2 over TLS (ALPN h2), certificate from `certs`. */
  readonly h2: Http2TestServer;
  readonly certs: CertificateSet;
  /** A second CA that signed nothing the servers use: verification against it must fail. */
  readonly otherCerts: CertificateSet;
  close(): Promise<void>;
}

/** Starts the servers and certificates every check runs against (HTTP/1.1, TLS, h2c, h2 and
 * the fault servers, all on 127.0.0.1); close() stops them. */
export async function startConformanceEnvironment(): Promise<ConformanceEnvironment> {
  const [certs, otherCerts] = await Promise.all([makeCertificates(), makeCertificates()]);
  const [http, tls, h2c, h2] = await Promise.all([
    startHttpServer(),
    startTlsServer(certs),
    startHttp2Server({ tls: false }),
    startHttp2Server({ tls: true, certs }),
  ]);
  // Node opens /dev/null once for the first worker thread it starts and keeps it: do that now,
  // so it is in every check's fd baseline rather than counted as a leak.
  await (await startUnacceptingServer()).close();
  return {
    http,
    tls,
    h2c,
    h2,
    certs,
    otherCerts,
    async close() {
      await Promise.all([http.close(), tls.close(), h2c.close(), h2.close()]);
      await Promise.all([certs.cleanup(), otherCerts.cleanup()]);
    },
  };
}
