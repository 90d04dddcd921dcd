// The process: the TLS verifier's JNI set-up first (the core verifies
// certificates with the platform's store through rustls-platform-verifier),
// the notification channels, and the one RapportClient the activity, the
// push handler and the notification actions share while the process lives.
package app.rapport.android

import android.app.Application
import android.app.NotificationChannel
import android.app.NotificationManager
import app.rapport.BuildConfig
import app.rapport.core.RapportClient
import app.rapport.notify.Channel
import java.io.File

class RapportApplication : Application() {
    /** The app's client while the process lives and someone is logged in (null: use a NotificationClient). */
    @Volatile
    var client: RapportClient? = null

    /** The chat on screen (its pushes show nothing: Suppressed.VIEWING). */
    @Volatile
    var viewing: String? = null

    override fun onCreate() {
        super.onCreate()
        TlsSetup.init(this)
        val nm = getSystemService(NotificationManager::class.java)
        Channel.entries.forEach { c ->
            val importance = if (c.high) NotificationManager.IMPORTANCE_HIGH else NotificationManager.IMPORTANCE_DEFAULT
            nm.createNotificationChannel(NotificationChannel(c.id, c.title, importance).apply { setShowBadge(true) })
        }
    }

    /** S1: the store under noBackupFilesDir: never in a backup, never restored elsewhere. */
    val storePath: String get() = File(noBackupFilesDir, "rapport.db").path

    val secrets by lazy { KeystoreSecretStore(this) }

    /** The server this install logs in to (the login screen may change it). */
    var serverUrl: String
        get() = getSharedPreferences("rapport", MODE_PRIVATE).getString("server", null) ?: BuildConfig.DEFAULT_SERVER
        set(value) { getSharedPreferences("rapport", MODE_PRIVATE).edit().putString("server", value).apply() }
}
