// The Rapport app: Compose + Material 3 screens over :rapport-core, minSdk 26.
//
// Source layout (one copy of each file):
//   src/main/kotlin/app/rapport/ui       screens + screen state, plain Compose (androidx.compose.*):
//                                        also compiled for the desktop JVM by android/desktop-test
//   src/main/kotlin/app/rapport/notify   the push decision -> notification spec mapping, pure Kotlin
//   src/main/kotlin/app/rapport/android  the Android glue (Activity, notifications, Keystore):
//                                        compile-checked against android-all by android/framework-check
//   src/firebase/kotlin                  the FirebaseMessagingService shim (Firebase does not
//                                        resolve on CI; a few lines that call the compiled handler)
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

// FCM needs the project's google-services.json (not committed): without it the
// app builds and runs, and pushes stay off.
if (file("google-services.json").exists()) {
    apply(plugin = libs.plugins.google.services.get().pluginId)
}

android {
    namespace = "app.rapport"
    compileSdk = 36
    defaultConfig {
        applicationId = "app.rapport"
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        // The server the login screen proposes (https only: no cleartext).
        buildConfigField("String", "DEFAULT_SERVER", "\"https://rapport.example.com\"")
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }
    buildFeatures {
        compose = true
        buildConfig = true
    }
    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets {
        getByName("main") { kotlin.srcDir("src/firebase/kotlin") }
    }
    packaging { jniLibs { useLegacyPackaging = false } }
}

kotlin { jvmToolchain(17) }

dependencies {
    implementation(project(":rapport-core"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.foundation)
    implementation(libs.androidx.compose.material3)
    implementation(libs.androidx.compose.ui.tooling.preview)
    debugImplementation(libs.androidx.compose.ui.tooling)
    implementation(platform(libs.firebase.bom))
    implementation(libs.firebase.messaging)
    // The Java half of the TLS verifier the core uses (rustls-platform-verifier):
    // served from the crate's own Maven folder, see scripts/build-android.sh.
    implementation(libs.rustls.platform.verifier)
}
