#!/usr/bin/env node
/**
 * The `trine` command. Each sub-command is a thin shell over a library call; errors that users
 * can act on are TrineErrors and are printed as `trine: <sentence> [CODE]` with exit status 1.
 */
import process from 'node:process';
import { cac } from 'cac';
import { VERSION } from './version.ts';
import { keygenCommand, fingerprintCommand } from './keys.ts';
import { TrineError } from '../crypto/errors.ts';
import { backendReport } from '../crypto/suite.ts';

export function buildCli() {
  const cli = cac('trine');

  cli
    .command('keygen', 'Create an X25519 identity key pair (private key file + .pub line)')
    .option('-f, --file <path>', 'Private key file to write (default: ~/.trine/id_trine)')
    .option('-C, --comment <text>', 'Comment stored with the public key (default: user@host)')
    .option('--passphrase', 'Protect the private key with a passphrase (asked twice, or TRINE_PASSPHRASE)')
    .option('--force', 'Overwrite an existing key file')
    .example('trine keygen -f ./id_trine -C alice@laptop')
    .action(keygenCommand);

  cli
    .command('fingerprint <file>', 'Print the SHA256 fingerprint of a public or private key file')
    .example('trine fingerprint ~/.trine/id_trine.pub')
    .action(fingerprintCommand);

  cli
    .command('version', 'Print the version and the crypto backend in use')
    .action(() => {
      const b = Object.entries(backendReport).map(([k, v]) => `${k}=${v}`).join(' ');
      console.log(`trine ${VERSION} (${runtimeName()}; crypto ${b})`);
    });

  cli.help();
  cli.version(VERSION);
  return cli;
}

function runtimeName(): string {
  const g = globalThis as Record<string, unknown>;
  if (g['Bun']) return `bun ${(g['Bun'] as { version: string }).version}`;
  if (g['Deno']) return `deno ${(g['Deno'] as { version: { deno: string } }).version.deno}`;
  return `node ${process.versions.node}`;
}

export async function main(argv: string[]): Promise<number> {
  const cli = buildCli();
  try {
    cli.parse(argv, { run: false });
    if (!cli.matchedCommand && cli.args.length > 0) {
      throw new TrineError('CLI_UNKNOWN_COMMAND', `unknown command "${cli.args[0]}"; run \`trine --help\` for the list`);
    }
    if (!cli.matchedCommand && !cli.options['help'] && !cli.options['version']) {
      cli.outputHelp();
      return 0;
    }
    await cli.runMatchedCommand();
    return 0;
  } catch (e) {
    if (e instanceof TrineError) {
      process.stderr.write(`trine: ${e.message} [${e.code}]\n`);
      return 1;
    }
    if (e instanceof Error && e.name === 'CACError') {
      process.stderr.write(`trine: ${e.message}; run \`trine --help\` for usage [CLI_USAGE]\n`);
      return 2;
    }
    throw e;
  }
}

const isMain = (() => {
  const g = globalThis as Record<string, unknown>;
  if (g['Bun'] || g['Deno']) return (import.meta as { main?: boolean }).main === true;
  const arg = process.argv[1] ?? '';
  return arg.endsWith('main.ts') || arg.endsWith('trine') || arg.endsWith('main.js');
})();

if (isMain) {
  main(process.argv).then((code) => { process.exitCode = code; }, (e) => {
    process.stderr.write(`trine: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\nPlease report this with the command you ran. [INTERNAL]\n`);
    process.exitCode = 70;
  });
}
