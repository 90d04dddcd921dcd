// The real parts the screen tests drive: the reference server as a subprocess
// (target/debug/rapport-server, a generated workspace) and a client on a fresh
// SQLite store through the real library (JNA). As bindings/kotlin's Support.kt,
// plus a restart on the same port for the offline test.
package app.rapport.ui

import androidx.compose.material3.Surface
import androidx.compose.runtime.Composable
import androidx.compose.ui.ImageComposeScene
import androidx.compose.ui.unit.Density
import app.rapport.core.RapportClient
import app.rapport.core.SecretStore
import app.rapport.core.SyncState
import app.rapport.core.syncStates
import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

class TestServer(
    val db: File,
    val port: Int = freePort(),
    private val chats: Int = 60,
    private val messages: Int = 600,
    private val clockOffsetMs: Long? = null,
) : AutoCloseable {
    lateinit var url: String
        private set
    private var process: Process? = null

    init { start() }

    fun start() {
        val exe = System.getProperty("rapport.server") ?: error("rapport.server is not set")
        val cmd = mutableListOf(
            exe, "--db", db.path, "--listen", "127.0.0.1:$port", "--chats", "$chats", "--messages", "$messages",
        )
        if (clockOffsetMs != null) cmd += listOf("--clock-offset-ms", "$clockOffsetMs")
        val p = ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start()
        val out = p.inputStream.bufferedReader()
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        var ready: String? = null
        while (ready == null && System.nanoTime() < deadline) {
            val line = out.readLine() ?: break
            if (line.startsWith("rapport-server listening on ")) ready = line
        }
        check(ready != null) { "rapport-server did not start" }
        url = ready.removePrefix("rapport-server listening on ").substringBefore(' ')
        Thread { out.useLines { lines -> lines.forEach { } } }.apply { isDaemon = true }.start()
        process = p
    }

    fun stop() {
        val p = process ?: return
        p.destroy()
        if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly().waitFor()
        process = null
    }

    override fun close() = stop()

    companion object {
        fun freePort(): Int = ServerSocket(0).use { it.localPort }
        const val EMAIL = "agent@example.com"
        const val PASSWORD = "rapport"
    }
}

class MemorySecretStore : SecretStore {
    private val map = ConcurrentHashMap<String, String>()
    override fun load(key: String): String? = map[key]
    override fun save(key: String, value: String) { map[key] = value }
    override fun delete(key: String) { map.remove(key) }
}

fun tempDir(prefix: String): File = Files.createTempDirectory(prefix).toFile().apply { deleteOnExit() }

/** A client on a fresh store, logged in, synced until live. */
fun loggedInClient(server: TestServer, dir: File = tempDir("rapport-app")): RapportClient {
    val client = RapportClient(File(dir, "store.db").path, server.url, MemorySecretStore())
    runBlocking {
        client.login(TestServer.EMAIL, TestServer.PASSWORD)
        client.startSync()
        withTimeout(60_000) { client.syncStates().first { it is SyncState.Live } }
    }
    return client
}

/** A headless phone screen (360×720 dp at density 2) drawing [content] in the app's theme. */
fun phoneScene(content: @Composable () -> Unit) =
    ImageComposeScene(720, 1440, Density(2f)) { RapportTheme { Surface { content() } } }

/** Polls [condition] until it holds (no timed assertion: the limit only ends a hung test). */
fun eventually(timeoutMs: Long = 30_000, message: String, condition: () -> Boolean) {
    val deadline = System.currentTimeMillis() + timeoutMs
    while (!condition()) {
        check(System.currentTimeMillis() < deadline) { message }
        Thread.sleep(20)
    }
}

/**
 * Issue 17: a fake SendPulse account on a loopback port, `rapport fake-sendpulse`
 * (target/debug/rapport) as a subprocess, as in bindings/kotlin's FakeSendPulse.
 */
class FakeSendPulse(chats: Int = 6, messages: Int = 24) : AutoCloseable {
    val url: String
    val clientId: String
    val clientSecret: String
    private val process: Process

    init {
        val exe = System.getProperty("rapport.cli") ?: error("rapport.cli is not set")
        process = ProcessBuilder(exe, "fake-sendpulse", "--chats", "$chats", "--messages", "$messages")
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        val line = process.inputStream.bufferedReader().readLine()
        check(line != null && line.startsWith("fake-sendpulse listening on ")) { "rapport fake-sendpulse did not start" }
        // "fake-sendpulse listening on URL client_id ID client_secret SECRET"
        val words = line.removePrefix("fake-sendpulse listening on ").split(' ')
        url = words[0]
        clientId = words[2]
        clientSecret = words[4]
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
    }
}
