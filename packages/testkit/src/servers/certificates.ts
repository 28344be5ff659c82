import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A test CA and the certificates it signed, made by the `openssl` CLI at test time. */
export interface CertificateSet {
  readonly dir: string;
  readonly caCertPath: string;
  readonly caKeyPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Removes the directory (only when makeCertificates created it). */
  cleanup(): Promise<void>;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 20_000 });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr ?? String(err);
    throw new Error(`openssl ${args[0]} failed: ${detail.trim()}`);
  }
}

// EC P-256 keys: generated in milliseconds, unlike RSA.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function issue(cwd: string, name: string, cn: string, extensions: string): Promise<void> {
  await openssl(cwd, [
    'req',
    ...NEW_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  ]);
  await writeFile(join(cwd, `${name}.ext`), extensions);
  await openssl(cwd, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  ]);
}

/**
 * A CA, a server certificate for 127.0.0.1 and localhost signed by it, and a client certificate
 * signed by it. Written to `dir` (created if missing) or to a fresh temporary directory.
 */
export async function makeCertificates(dir?: string): Promise<CertificateSet> {
  if (dir !== undefined && typeof dir !== 'string')
    throw new TypeError('makeCertificates: dir must be a string');
  const owned = dir === undefined;
  const root = owned ? await mkdtemp(join(tmpdir(), 'multisock-certs-')) : dir;
  try {
    if (!owned) await mkdir(root, { recursive: true });
    await openssl(root, [
      'req',
      '-x509',
      ...NEW_KEY,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=multisock test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await issue(
      root,
      'server',
      '127.0.0.1',
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
    );
    await issue(
      root,
      'client',
      'multisock test client',
      'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n',
    );
    const read = (f: string) => readFile(join(root, f), 'utf8');
    const [caCert, serverCert, serverKey, clientCert, clientKey] = await Promise.all(
      ['ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key'].map(read),
    );
    return {
      dir: root,
      caCertPath: join(root, 'ca.pem'),
      caKeyPath: join(root, 'ca.key'),
      serverCertPath: join(root, 'server.pem'),
      serverKeyPath: join(root, 'server.key'),
      clientCertPath: join(root, 'client.pem'),
      clientKeyPath: join(root, 'client.key'),
      caCert: caCert!,
      serverCert: serverCert!,
      serverKey: serverKey!,
      clientCert: clientCert!,
      clientKey: clientKey!,
      async cleanup() {
        if (owned) await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (owned) await rm(root, { recursive: true, force: true });
    throw err;
  }
}
