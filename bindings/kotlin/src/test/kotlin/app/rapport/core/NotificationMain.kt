package app.rapport.core

import java.io.File
import kotlin.system.exitProcess

/**
 * The short-lived notification process of NotificationTest, run in a JVM of
 * its own as an Android FirebaseMessagingService or an iOS extension would
 * run: `NotificationMain DIR URL PAYLOAD TEXT KEY` opens the store and the
 * session the app saved in DIR, replies, marks the chat read and exits.
 */
fun main(args: Array<String>) {
    val (dir, url, payload, text, key) = args
    try {
        NotificationClient(File(dir, "store.db").path, url, FileSecretStore(File(dir, "secrets"))).use {
            val outcome = it.reply(payload, text, key)
            println("delivered=${outcome.delivered} message=${outcome.messageId}")
        }
    } catch (e: RapportException) {
        println("error=${e.code}")
        exitProcess(1)
    }
}

/** Secrets in a file of the app's own (the platforms' Keystore/Keychain stand-in). */
class FileSecretStore(private val file: File) : SecretStore {
    private fun read(): java.util.Properties = java.util.Properties().apply {
        if (file.exists()) file.inputStream().use { load(it) }
    }

    @Synchronized override fun load(key: String): String? = read().getProperty(key)

    @Synchronized override fun save(key: String, value: String) {
        val p = read().apply { setProperty(key, value) }
        file.outputStream().use { p.store(it, null) }
    }

    @Synchronized override fun delete(key: String) {
        val p = read().apply { remove(key) }
        file.outputStream().use { p.store(it, null) }
    }
}
