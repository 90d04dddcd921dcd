//! The one JNI entry of the Android library, outside UniFFI: rustls-platform-verifier
//! verifies certificates through Android's own trust store by calling its Kotlin half
//! (`org.rustls.platformverifier`), so it needs the JavaVM and the application Context
//! before the first https call. The app's `TlsSetup.init` calls this once per process.

use jni::EnvUnowned;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject};

/// `TlsSetup.initVerifier(context)` (a `@JvmStatic` in a Kotlin object, so the second
/// argument is the class). A failure or a panic comes back to Kotlin as a
/// RuntimeException, never unwinding across the JNI boundary.
#[unsafe(no_mangle)]
pub extern "system" fn Java_app_rapport_android_TlsSetup_initVerifier<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    context: JObject<'local>,
) {
    env.with_env(|env| rustls_platform_verifier::android::init_with_env(env, context))
        .resolve::<ThrowRuntimeExAndDefault>()
}
