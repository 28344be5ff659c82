// The fenced ```ts / ```typescript / ```js blocks of a README, and the fragment marker
// (`<!-- fragment: why -->` on the line before the fence) that says a block is not a program.

export interface Block {
  /** `README.md#2`: the file and the block's position among its code blocks of these languages. */
  id: string;
  file: string;
  line: number;
  lang: string;
  code: string;
  /** The reason given by `<!-- fragment: reason -->`, or null for a program. */
  fragment: string | null;
}

/** The ```ts / ```typescript / ```js blocks of a Markdown text, with their fragment markers. */
export function extractBlocks(file: string, markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const lang = open[1]!;
    if (['ts', 'typescript', 'js'].includes(lang)) {
      const marker = /^<!-- fragment(?::\s*(.*?))?\s*-->\s*$/.exec(lines[i - 1] ?? '');
      blocks.push({
        id: `${file}#${blocks.length + 1}`,
        file,
        line: i + 1,
        lang,
        code: lines.slice(i + 1, end).join('\n'),
        fragment: marker ? (marker[1] ?? '') : null,
      });
    }
    i = end;
  }
  return blocks;
}
