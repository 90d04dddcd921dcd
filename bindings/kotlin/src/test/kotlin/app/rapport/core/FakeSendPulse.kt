package app.rapport.core

import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.concurrent.TimeUnit

/**
 * A fake SendPulse account on a loopback port (issue 17): `rapport fake-sendpulse`
 * (target/debug/rapport) as a subprocess, a bot per messaging app with [chats]
 * subscribers and [messages] messages. [outgoing] reads what it holds through
 * SendPulse's own API, as any client of the platform would.
 */
class FakeSendPulse(chats: Int = 6, messages: Int = 24) : AutoCloseable {
    val url: String
    val clientId: String
    val clientSecret: String
    private val process: Process
    private val http = HttpClient.newHttpClient()

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

    /** The texts sent to [contactId] of a [prefix] bot (`telegram`, ...), from SendPulse's API. */
    fun outgoing(prefix: String, contactId: String): List<String> {
        val token = post(
            "/oauth/access_token",
            """{"grant_type":"client_credentials","client_id":"$clientId","client_secret":"$clientSecret"}""",
        ).let { Regex("\"access_token\":\"([^\"]+)\"").find(it)!!.groupValues[1] }
        val id = URLEncoder.encode(contactId, Charsets.UTF_8)
        val body = http.send(
            HttpRequest.newBuilder(URI("$url/$prefix/chats/messages?contact_id=$id&size=1000"))
                .header("Authorization", "Bearer $token").GET().build(),
            HttpResponse.BodyHandlers.ofString(),
        ).body()
        // Each message an object with one nested object, its "data": {"text": ...};
        // direction 2 is the bot's side (what the agent sent). Texts without braces.
        return Regex("\\{[^{}]*\\{[^{}]*\\}[^{}]*\\}").findAll(body).map { it.value }
            .filter { Regex("\"direction\":\\s*2\\b").containsMatchIn(it) }
            .mapNotNull { Regex("\"text\":\\s*\"([^\"]*)\"").find(it)?.groupValues?.get(1) }
            .toList()
    }

    private fun post(path: String, json: String): String = http.send(
        HttpRequest.newBuilder(URI("$url$path"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json)).build(),
        HttpResponse.BodyHandlers.ofString(),
    ).body()

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
    }
}
