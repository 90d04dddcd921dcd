// The Rust core for Android: generated Kotlin (scripts/gen-bindings.sh, with the
// Android cleaner) + the .so per ABI from cargo-ndk in src/main/jniLibs, and
// the hand-written layer (Flows.kt: Flows, suspend twins, files from disk)
// compiled from its one copy in bindings/kotlin, which the JVM tests prove.
plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "app.rapport.core"
    compileSdk = 36
    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets {
        getByName("main") {
            // Not copied: one source of truth for the JVM and Android.
            kotlin.srcDir("../../bindings/kotlin/src/main/kotlin")
        }
    }
}

kotlin { jvmToolchain(17) }

dependencies {
    api(libs.jna) { artifact { type = "aar" } }
    api(libs.kotlinx.coroutines.android)
    // The generated Android cleaner is annotated @RequiresApi.
    implementation(libs.androidx.annotation)
}
