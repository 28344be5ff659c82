import { FLAGS, type Flag, GROUPS } from './flags.js';

const HELP_COLUMN = 28;
const WIDTH = 100;

/** `-o, --output FILE` as the help shows it. */
export function flagSynopsis(flag: Flag): string {
  const longs = [flag.long, ...(flag.aliases ?? [])].map((name) => `--${name}`).join(', ');
  return `${flag.short ? `-${flag.short}, ` : '    '}${longs}${flag.value ? ` ${flag.value}` : ''}`;
}

/** `text` wrapped at word boundaries to lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

function flagLines(flag: Flag): string[] {
  const synopsis = `  ${flagSynopsis(flag)}`;
  const help = wrap(flag.help, WIDTH - HELP_COLUMN);
  const pad = ' '.repeat(HELP_COLUMN);
  if (synopsis.length + 2 > HELP_COLUMN) return [synopsis, ...help.map((l) => pad + l)];
  return [synopsis.padEnd(HELP_COLUMN) + help[0], ...help.slice(1).map((l) => pad + l)];
}

/** `hiper --help`: every flag of FLAGS, grouped by task. */
export const USAGE = [
  'usage: hiper [URL ... | --file urls.txt] [options]',
  '',
  "Fetches URLs many at a time through libcurl's multi-socket interface: saves bodies, retries,",
  'writes per-request results, and measures latency (closed loop, --duration or a fixed --rate).',
  'With no URL, hiper starts its own server on 127.0.0.1 and runs a demo workload against it.',
  ...GROUPS.flatMap((group) => [
    '',
    `${group}:`,
    ...FLAGS.filter((f) => f.group === group).flatMap(flagLines),
  ]),
  '',
  'exit status: 0 every request succeeded, 1 some failed, 2 bad arguments,',
  '             130 stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM (after a clean stop and the summary).',
].join('\n');
