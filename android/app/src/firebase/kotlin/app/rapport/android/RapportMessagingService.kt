// The one Android file CI does not compile (Firebase is not served there):
// a few lines handing FCM's data map and token to the compiled PushHandler.
package app.rapport.android

import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import kotlinx.coroutines.runBlocking

class RapportMessagingService : FirebaseMessagingService() {
    override fun onMessageReceived(message: RemoteMessage) = PushHandler(this).onMessage(message.data)

    override fun onNewToken(token: String) = runBlocking { PushHandler(this@RapportMessagingService).onNewToken(token) }
}
