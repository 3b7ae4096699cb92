/** A fenced code block of a Markdown page: its info string split into language and the rest. */
export interface CodeBlock {
  readonly lang: string;
  /** What follows the language in the info string (`skip: needs Docker`), trimmed. */
  readonly meta: string;
  /** The 1-based line of the opening fence, to name the block in a failure. */
  readonly line: number;
  readonly text: string;
}

/**
 * The page's ``` fenced blocks, in order, those inside list items included: a block's lines lose
 * the indentation of its opening fence.
 */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let open:
    { indent: string; lang: string; meta: string; line: number; lines: string[] } | undefined;
  markdown.split('\n').forEach((line, i) => {
    if (open === undefined) {
      const fence = /^(\s*)```(\S*)\s*(.*)$/.exec(line);
      if (fence) {
        open = {
          indent: fence[1]!,
          lang: fence[2]!,
          meta: fence[3]!.trim(),
          line: i + 1,
          lines: [],
        };
      }
    } else if (/^\s*```\s*$/.test(line)) {
      blocks.push({
        lang: open.lang,
        meta: open.meta,
        line: open.line,
        text: open.lines.join('\n'),
      });
      open = undefined;
    } else {
      open.lines.push(line.startsWith(open.indent) ? line.slice(open.indent.length) : line);
    }
  });
  if (open) throw new Error(`the code block opened on line ${open.line} is never closed`);
  return blocks;
}
