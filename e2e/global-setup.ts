// Starts `yufu demo` on free ports in a fresh data directory, waits for it
// to print its console URL and logins, and leaves them in .demo.json for
// the tests (and the pid for global-teardown.ts).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const DEMO_FILE = path.join(__dirname, '.demo.json');

export default async function globalSetup() {
  const bin = process.env.YUFU_BIN || path.join(__dirname, '..', 'target', 'debug', 'yufu');
  if (!fs.existsSync(bin)) {
    throw new Error(`no yufu binary at ${bin}: build it (cargo build -p yufu) or set YUFU_BIN`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yufu-e2e-'));
  const log = fs.openSync(path.join(dataDir, 'demo.log'), 'w');
  const child = spawn(bin, ['demo'], {
    env: {
      ...process.env,
      YUFU_DATA_DIR: dataDir,
      YUFU_HTTP_ADDR: '127.0.0.1:0',
      YUFU_LOG: process.env.YUFU_LOG || 'warn',
    },
    stdio: ['ignore', 'pipe', log],
    detached: true,
  });
  let out = '';
  const info = await new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`yufu demo did not start in 90 s:\n${out}`)), 90_000);
    child.on('exit', (code) => reject(new Error(`yufu demo exited (${code}):\n${out}\n${fs.readFileSync(path.join(dataDir, 'demo.log'), 'utf8')}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!out.includes('Press Ctrl-C to stop.')) { return; }
      clearTimeout(timer);
      const grab = (re: RegExp) => { const m = re.exec(out); if (!m) { reject(new Error(`not in the demo's output: ${re}\n${out}`)); } return m ? m[1] : ''; };
      const maybe = (re: RegExp) => { const m = re.exec(out); return m ? m[1] : ''; };
      resolve({
        url: grab(/Console \/ 控制台:\s+(\S+)/).replace(/\/$/, ''),
        adminPassword: grab(/Admin login \/ 管理员登录: admin \/ (\S+)/),
        token: grab(/API token \/ 接口令牌: (\S+)/),
        mqtt: grab(/Meters, MQTT \/ 表计 MQTT:\s+(\S+)/),
        portalAccount: maybe(/account \/ 户号 (\S+) \//),
        portalPassword: maybe(/account \/ 户号 \S+ \/ (\S+)/),
      });
    });
  });
  child.stdout!.removeAllListeners('data');
  child.stdout!.resume();
  child.unref();
  fs.writeFileSync(DEMO_FILE, JSON.stringify({ ...info, pid: child.pid, dataDir }, null, 2));
}
