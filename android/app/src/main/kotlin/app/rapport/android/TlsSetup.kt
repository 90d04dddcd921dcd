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
        // No catch: without its set-up the verifier cannot check a certificate (it
        // would fail every https call later), so a broken build (a shrunk
        // org.rustls.platformverifier class, a core without the entry) stops here, at start,
        // with the reason.
        initVerifier(context.applicationContext)
        done = true
    }

    /**
     * Implemented in the core's library for Android (bindings/src/android.rs): it calls
     * `rustls_platform_verifier::android::init_with_env` with this Context; a failure comes
     * back as a RuntimeException.
     */
    @JvmStatic
    private external fun initVerifier(context: Context)
}
