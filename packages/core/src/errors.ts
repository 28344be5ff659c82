import { addon } from './native.js';

function format(codeName: string, curlMessage: string, detail: string | undefined): string {
  return detail ? `${detail}: ${curlMessage} (${codeName})` : `${curlMessage} (${codeName})`;
}

/** A libcurl easy error: `code` is the CURLcode, `codeName` libcurl's name for it. */
export class CurlError extends Error {
  override name = 'CurlError';
  /** The CURLcode (CurlCode has the common ones). */
  readonly code: number;
  /** libcurl's name for the code: 'CURLE_COULDNT_CONNECT'. */
  readonly codeName: string;
  /** libcurl's own message for the code (curl_easy_strerror). */
  readonly curlMessage: string;
  /** The URL of the failed transfer, where there was one. */
  url?: string;

  constructor(code: number, codeName: string, curlMessage: string, detail?: string, options?: ErrorOptions) {
    super(format(codeName, curlMessage, detail), options);
    this.code = code;
    this.codeName = codeName;
    this.curlMessage = curlMessage;
  }

  /** The error for a CURLcode, with libcurl's name and message for it; `detail` (what failed)
   * comes first in the message. */
  static fromCode(code: number, detail?: string, options?: ErrorOptions): CurlError {
    const [codeName, curlMessage] = addon.codeInfo('easy', code);
    return new CurlError(code, codeName, curlMessage, detail, options);
  }
}

/** A libcurl multi error: `code` is the CURLMcode, `codeName` libcurl's name for it. */
export class CurlMultiError extends Error {
  override name = 'CurlMultiError';
  /** The CURLMcode (CurlMultiCode has them). */
  readonly code: number;
  /** libcurl's name for the code: 'CURLM_BAD_HANDLE'. */
  readonly codeName: string;
  /** libcurl's own message for the code (curl_multi_strerror). */
  readonly curlMessage: string;

  constructor(code: number, codeName: string, curlMessage: string, detail?: string, options?: ErrorOptions) {
    super(format(codeName, curlMessage, detail), options);
    this.code = code;
    this.codeName = codeName;
    this.curlMessage = curlMessage;
  }

  /** The error for a CURLMcode, with libcurl's name and message for it; `detail` (what failed)
   * comes first in the message. */
  static fromCode(code: number, detail?: string, options?: ErrorOptions): CurlMultiError {
    const [codeName, curlMessage] = addon.codeInfo('multi', code);
    return new CurlMultiError(code, codeName, curlMessage, detail, options);
  }
}
