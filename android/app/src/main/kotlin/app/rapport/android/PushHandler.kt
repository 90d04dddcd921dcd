// H2/H3/B10/D2: what the FirebaseMessagingService hands over (the data map,
// a new token). The core decides (through the app's client if the process
// has one, else a NotificationClient for this one push); Notifications maps
// the decision to a spec; Notifier draws it.
package app.rapport.android

import android.content.Context
import app.rapport.core.DeviceRegistration
import app.rapport.core.NotificationClient
import app.rapport.core.PushPlatform
import app.rapport.core.RapportException
import app.rapport.core.pushKind
import app.rapport.notify.Notifications
import java.util.UUID

class PushHandler(context: Context) {
    private val app = context.applicationContext as RapportApplication

    /** A push arrived (on FCM's worker thread: blocking calls are fine here). */
    fun onMessage(data: Map<String, String>) {
        val json = Notifications.dataJson(data)
        try {
            val kind = pushKind(json)
            val client = app.client
            val decision = client?.showPush(json, app.viewing)
                ?: NotificationClient(app.storePath, app.serverUrl, app.secrets).use { it.show(json, app.viewing) }
            Notifier(app).apply(Notifications.command(decision, kind), json)
        } catch (e: RapportException) {
            // Not ours, malformed, or no session: nothing to show. Only the code is logged.
            android.util.Log.i("rapport", "push not shown: ${errorCodeOf(e)}")
        }
    }

    /** FCM replaced the token: register it again (when logged in). */
    suspend fun onNewToken(token: String) {
        val client = app.client ?: return
        try {
            client.registerDevice(DeviceRegistration(deviceId(), PushPlatform.FCM, token))
        } catch (e: RapportException) {
            android.util.Log.i("rapport", "device not registered: ${errorCodeOf(e)}")
        }
    }

    /** This install's stable device id (not the token, which changes). */
    private fun deviceId(): String {
        val prefs = app.getSharedPreferences("rapport", Context.MODE_PRIVATE)
        return prefs.getString("device_id", null) ?: UUID.randomUUID().toString().also {
            prefs.edit().putString("device_id", it).apply()
        }
    }
}

internal fun errorCodeOf(e: RapportException): String = app.rapport.core.errorCode(e)
