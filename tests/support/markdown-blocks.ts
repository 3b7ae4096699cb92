/** A fenced code block of a Markdown page: its info string split into language and the rest. */
export interface CodeBlock {
  readonly lang: string;
  /** What follows the language in the info string (`skip: needs Docker`), trimmed. */
  readonly meta: string;
  /** The 1-based line of the opening fence, to name the block in a failure. */
  readonly line: number;
  readonly text: string;
}

/** The page's top-level ``` fenced blocks, in order (the only kind these pages use). */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let open: { lang: string; meta: string; line: number; lines: string[] } | undefined;
  markdown.split('\n').forEach((line, i) => {
    if (open === undefined) {
      const fence = /^```(\S*)\s*(.*)$/.exec(line);
      if (fence) open = { lang: fence[1]!, meta: fence[2]!.trim(), line: i + 1, lines: [] };
    } else if (/^```\s*$/.test(line)) {
      blocks.push({
        lang: open.lang,
        meta: open.meta,
        line: open.line,
        text: open.lines.join('\n'),
      });
      open = undefined;
    } else {
      open.lines.push(line);
    }
  });
  if (open) throw new Error(`the code block opened on line ${open.line} is never closed`);
  return blocks;
}
