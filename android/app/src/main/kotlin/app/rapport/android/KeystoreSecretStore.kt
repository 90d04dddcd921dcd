// S5: the session's secrets sealed with an AES-GCM key that never leaves the
// AndroidKeyStore; the sealed bytes (IV + ciphertext) in app-private storage
// under noBackupFilesDir (not backed up, not moved to another device, where
// the key would be missing anyway).
package app.rapport.android

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import app.rapport.core.SecretStore
import app.rapport.core.SecretStoreException
import java.io.File
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

class KeystoreSecretStore(context: Context, private val alias: String = "rapport.session") : SecretStore {
    private val dir = File(context.noBackupFilesDir, "secrets").apply { mkdirs() }

    private fun key(): SecretKey {
        val ks = KeyStore.getInstance(KEYSTORE).apply { load(null) }
        (ks.getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.let { return it.secretKey }
        val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        gen.init(
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return gen.generateKey()
    }

    /** One file per key; its name is the key's hex, so any key string is a safe file name. */
    private fun file(key: String) = File(dir, key.toByteArray().joinToString("") { "%02x".format(it) })

    @Synchronized
    override fun load(key: String): String? = guard {
        val f = file(key)
        if (!f.exists()) return@guard null
        val sealed = f.readBytes()
        if (sealed.size <= IV_BYTES) throw SecretStoreException.Failed("sealed secret too short")
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, sealed, 0, IV_BYTES))
        String(cipher.doFinal(sealed, IV_BYTES, sealed.size - IV_BYTES), Charsets.UTF_8)
    }

    @Synchronized
    override fun save(key: String, value: String) = guard {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key()) // the Keystore picks a fresh IV
        val sealed = cipher.iv + cipher.doFinal(value.toByteArray(Charsets.UTF_8))
        val tmp = File(dir, "${file(key).name}.tmp")
        tmp.writeBytes(sealed)
        if (!tmp.renameTo(file(key))) throw SecretStoreException.Failed("cannot replace the sealed secret")
    }

    @Synchronized
    override fun delete(key: String) = guard {
        val f = file(key)
        if (f.exists() && !f.delete()) throw SecretStoreException.Failed("cannot delete the sealed secret")
    }

    /** Any platform failure is the core's typed SecretStore error (no message text, no secret in it). */
    private inline fun <T> guard(block: () -> T): T =
        try {
            block()
        } catch (e: SecretStoreException) {
            throw e
        } catch (e: Exception) {
            throw SecretStoreException.Failed(e.javaClass.simpleName)
        }

    private companion object {
        const val KEYSTORE = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val TAG_BITS = 128
    }
}
