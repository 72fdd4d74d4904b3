// Stops the demo global-setup.ts started (its whole process group).
import * as fs from 'node:fs';
import { DEMO_FILE } from './global-setup';

export default async function globalTeardown() {
  if (!fs.existsSync(DEMO_FILE)) { return; }
  const demo = JSON.parse(fs.readFileSync(DEMO_FILE, 'utf8'));
  try { process.kill(-demo.pid, 'SIGTERM'); } catch { /* already gone */ }
  fs.rmSync(DEMO_FILE);
}
