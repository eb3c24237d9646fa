/**
 * Terminal prompts: a visible line (yes/no questions) and a hidden one (passphrases). When stdin is
 * not a terminal, hidden prompts refuse instead of reading a secret from a pipe by accident.
 */
import process from 'node:process';
import { TrineError } from '../crypto/errors.ts';

/** Reads one line from stdin, showing `question` on stderr. */
export function ask(question: string): Promise<string> {
  return readLine(question, false);
}

/** Reads a secret without echoing it. */
export function askHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    return Promise.reject(new TrineError('PROMPT_NO_TTY', 'a passphrase is needed but there is no terminal to ask on; set TRINE_PASSPHRASE instead'));
  }
  return readLine(question, true);
}

function readLine(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let line = '';
    const wasRaw = stdin.isTTY ? stdin.isRaw : false;
    if (hidden && stdin.isTTY) stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      if (hidden && stdin.isTTY) stdin.setRawMode(wasRaw);
      stdin.pause();
      if (hidden) process.stderr.write('\n');
      if (err) reject(err); else resolve(line);
    };
    const onEnd = () => done();
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\n' || ch === '\r') { done(); return; }
        if (ch === '\u0003') { done(new TrineError('PROMPT_CANCELLED', 'cancelled')); return; }
        if (ch === '\u007f' || ch === '\b') { line = line.slice(0, -1); continue; }
        line += ch;
      }
    };
    stdin.on('data', onData);
    stdin.on('end', onEnd);
  });
}
