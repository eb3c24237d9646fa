#!/usr/bin/env node
/**
 * The `trine` command. Each sub-command is a thin shell over a library call; errors that users
 * can act on are TrineErrors and are printed as `trine: <sentence> [CODE]` with exit status 1.
 */
import process from 'node:process';
import { cac } from 'cac';
import { VERSION } from './version.ts';
import { keygenCommand, fingerprintCommand } from './keys.ts';
import { clusterCommand, initCommand, startCommand, statusCommand } from './node-commands.ts';
import { sqlCommand } from './sql-shell.ts';
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
    .command('init', 'Create a node (keys, master key) and found a one-node cluster with you as admin')
    .option('--dir <dir>', 'Node directory (default: ~/.trine/node)')
    .option('--listen <host:port>', 'Address to serve on, and that peers and clients use (default: 127.0.0.1:7420)')
    .option('--id <n>', 'Node id (default: random)')
    .option('--user <name>', 'Name of the admin user (default: your login name)')
    .option('--passphrase', 'Protect the data with a passphrase instead of a master key file (TRINE_PASSPHRASE or asked)')
    .example('trine init --listen 10.0.0.5:7420')
    .action(initCommand);

  cli
    .command('start', 'Run a node until Ctrl-C (initialises ~/.trine/node first if it does not exist)')
    .option('--dir <dir>', 'Node directory (default: ~/.trine/node)')
    .option('--cluster <n>', 'Instead: run a local cluster of n nodes (as `trine cluster --size n`)')
    .option('--cache <size>', 'Block cache limit, e.g. 2GiB or 25% (default: a quarter of memory, split between local cluster nodes)')
    .example('trine start')
    .action(startCommand);

  cli
    .command('cluster', 'Run a local cluster of nodes on 127.0.0.1 with consecutive ports, in this process')
    .option('--dir <dir>', 'Parent directory of the node directories (default: ~/.trine/cluster)')
    .option('--size <n>', 'Number of nodes (default: 3)')
    .option('--base-port <port>', 'Port of node 1; node i uses port + i - 1 (default: 7421)')
    .option('--host <host>', 'Address to bind (default: 127.0.0.1)')
    .option('--cache <size>', 'Block cache limit shared by the nodes, e.g. 2GiB or 25% (default: a quarter of memory)')
    .example('trine cluster')
    .action(clusterCommand);

  cli
    .command('sql [address]', 'SQL shell connected to a node (default: the local node)')
    .option('-c, --command <sql>', 'Run this SQL, print the result and exit')
    .option('--key <file>', 'Your private key (default: ~/.trine/id_trine)')
    .option('--known-hosts <file>', 'known_hosts file (default: ~/.trine/known_hosts)')
    .option('--fingerprint <fp>', 'Trust a new server only if its key has this fingerprint (SHA256:...)')
    .option('--accept-new', 'Trust a server seen for the first time without asking')
    .option('--consistency <level>', 'Reads: linearizable (default), strong, weak or none')
    .example('trine sql 127.0.0.1:7420')
    .example('trine sql 127.0.0.1:7420 --fingerprint SHA256:... -c "SELECT 1"')
    .action(sqlCommand);

  cli
    .command('status [address]', 'Show a node\'s Raft state, its leader and the members')
    .option('--key <file>', 'Your private key (default: ~/.trine/id_trine)')
    .option('--known-hosts <file>', 'known_hosts file (default: ~/.trine/known_hosts)')
    .option('--fingerprint <fp>', 'Trust a new server only if its key has this fingerprint')
    .option('--accept-new', 'Trust a server seen for the first time without asking')
    .action(statusCommand);

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
    const sys = systemError(e);
    if (sys) {
      process.stderr.write(`trine: ${sys.message} [${sys.code}]\n`);
      return 1;
    }
    if (e instanceof Error && e.name === 'CACError') {
      process.stderr.write(`trine: ${e.message}; run \`trine --help\` for usage [CLI_USAGE]\n`);
      return 2;
    }
    throw e;
  }
}

/** Operating-system errors a person can fix, turned into sentences that say how. */
function systemError(e: unknown): TrineError | undefined {
  const err = e as { code?: string; address?: string; port?: number; path?: string; message?: string };
  const where = err.address ? `${err.address}${err.port ? `:${err.port}` : ''}` : 'the address';
  switch (err?.code) {
    case 'EADDRINUSE':
      return new TrineError('NET_ADDRESS_IN_USE', `${where} is already in use by another process (another Trine node?); stop it, or give this node another address with \`trine init --listen HOST:PORT\``);
    case 'EADDRNOTAVAIL':
      return new TrineError('NET_ADDRESS_UNAVAILABLE', `${where} is not an address of this machine; choose one it has with \`trine init --listen HOST:PORT\``);
    case 'EACCES':
    case 'EPERM':
      return new TrineError('PERMISSION_DENIED', `permission denied${err.path ? ` for ${err.path}` : ''} (${err.message ?? ''}); run as a user that may use it, or choose another directory or port`);
    case 'ENOSPC':
      return new TrineError('DISK_FULL', `the disk is full${err.path ? ` (${err.path})` : ''}; free space and start again: nothing acknowledged was lost`);
    default:
      return undefined;
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
