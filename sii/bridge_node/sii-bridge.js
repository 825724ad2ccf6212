#!/usr/bin/env node
// The entry sii-agent-sdk starts (`node $SII_BRIDGE_PATH`): it runs `python -m sii.bridge` on this process's own
// stdin/stdout/stderr, so the SDK's JSON lines reach the Python bridge untouched, and exits with its exit code.
//
//   export SII_BRIDGE_PATH=$(python -m sii.bridge --path)
//
// The Python that has sii installed: $SII_PYTHON; else the virtualenv this file lies in (or a .venv beside a
// source checkout holding it); else the interpreter named in the shebang of `sii` on PATH; else python3.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const { constants } = require('node:os');
const path = require('node:path');

const BIN = process.platform === 'win32' ? path.join('Scripts', 'python.exe') : path.join('bin', 'python');

function virtualenvPython(start) {
  for (let dir = start; ; dir = path.dirname(dir)) {
    for (const root of [dir, path.join(dir, '.venv')]) {
      if (fs.existsSync(path.join(root, 'pyvenv.cfg')) && fs.existsSync(path.join(root, BIN))) {
        return path.join(root, BIN);
      }
    }
    if (path.dirname(dir) === dir) return null;
  }
}

function siiScriptPython() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const script = path.join(dir || '.', 'sii');
    let head;
    try {
      head = fs.readFileSync(script, 'utf8').slice(0, 512);
    } catch {
      continue;
    }
    // pip writes `#!/path/to/python`, or for long paths a /bin/sh preamble with `'''exec' /path/to/python`.
    const match = head.match(/^#!(\S*python[\w.]*)/) || head.match(/'''exec' (\S+)/);
    if (match) return match[1];
  }
  return null;
}

const python = process.env.SII_PYTHON || virtualenvPython(__dirname) || siiScriptPython() || 'python3';
const child = spawn(python, ['-m', 'sii.bridge', ...process.argv.slice(2)], { stdio: 'inherit' });

for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(name, () => child.kill(name));
}
child.on('error', (error) => {
  // Speak the protocol even here, so the SDK shows why instead of "Bridge process exited unexpectedly".
  const message = `sii-bridge could not run ${python} -m sii.bridge (${error.message}); set SII_PYTHON`;
  process.stdout.write(JSON.stringify({ type: 'error', error: { code: 'BRIDGE_START_FAILED', message } }) + '\n');
  process.exitCode = 1;
});
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (constants.signals[signal] || 0));
});
