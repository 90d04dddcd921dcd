package app.rapport.core

import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

/** The reference server (target/debug/rapport-server) as a subprocess. */
class TestServer(
    val db: File,
    port: Int = freePort(),
    chats: Int = 200,
    messages: Int = 2000,
    clockOffsetMs: Long? = null,
) : AutoCloseable {
    val url: String
    private val process: Process

    init {
        val exe = System.getProperty("rapport.server") ?: error("rapport.server is not set")
        val cmd = mutableListOf(
            exe, "--db", db.path, "--listen", "127.0.0.1:$port",
            "--chats", "$chats", "--messages", "$messages",
        )
        if (clockOffsetMs != null) cmd += listOf("--clock-offset-ms", "$clockOffsetMs")
        process = ProcessBuilder(cmd)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        val out = process.inputStream.bufferedReader()
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        var ready: String? = null
        while (ready == null && System.nanoTime() < deadline) {
            val line = out.readLine() ?: break
            if (line.startsWith("rapport-server listening on ")) ready = line
        }
        check(ready != null) { "rapport-server did not start" }
        url = ready.removePrefix("rapport-server listening on ").substringBefore(' ')
        // Keep reading so the server never blocks on a full pipe.
        Thread { out.useLines { lines -> lines.forEach { } } }.apply { isDaemon = true }.start()
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }

    companion object {
        fun freePort(): Int = ServerSocket(0).use { it.localPort }
        const val EMAIL = "agent@example.com"
        const val PASSWORD = "rapport"
    }
}

fun tempDir(prefix: String): File = Files.createTempDirectory(prefix).toFile().apply { deleteOnExit() }

/** A client on a fresh store, logged in, synced until live. */
fun loggedInClient(server: TestServer, dir: File = tempDir("rapport-client")): RapportClient {
    val client = RapportClient(File(dir, "store.db").path, server.url, MemorySecretStore())
    runBlocking {
        client.login(TestServer.EMAIL, TestServer.PASSWORD)
        client.startSync()
        client.syncStates().awaitFirst(30_000) { it is SyncState.Live }
    }
    return client
}

suspend fun <T> Flow<T>.awaitFirst(timeoutMs: Long = 10_000, predicate: (T) -> Boolean): T =
    withTimeout(timeoutMs) { first { predicate(it) } }

/** Polls [condition] until it holds or [timeoutMs] passes. */
fun eventually(timeoutMs: Long = 5_000, message: String, condition: () -> Boolean) {
    val deadline = System.currentTimeMillis() + timeoutMs
    while (!condition()) {
        check(System.currentTimeMillis() < deadline) { message }
        Thread.sleep(10)
    }
}
