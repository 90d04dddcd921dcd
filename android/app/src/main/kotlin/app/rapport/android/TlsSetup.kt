// rustls-platform-verifier on Android calls back into its Kotlin half
// (org.rustls.platformverifier) through JNI: the core's library must get the
// JavaVM and the application Context before the first https call.
package app.rapport.android

import android.content.Context

object TlsSetup {
    @Volatile
    private var done = false

    /** Loads the core's library and hands it the Context; once per process. */
    @Synchronized
    fun init(context: Context) {
        if (done) return
        System.loadLibrary("rapport_ffi")
        try {
            initVerifier(context.applicationContext)
        } catch (_: UnsatisfiedLinkError) {
            // A core built without its JNI entry: https calls then fail as the
            // core's typed network error, not as a crash.
            android.util.Log.w("rapport", "TLS verifier not set up: the core lacks its JNI entry")
        }
        done = true
    }

    /**
     * Implemented in the core's library for Android: it must call
     * `rustls_platform_verifier::android::init_with_env` (not yet written, see android/README.md).
     */
    @JvmStatic
    private external fun initVerifier(context: Context)
}
