// The Rust core for Android: generated Kotlin (scripts/gen-bindings.sh, with the
// Android cleaner) + the .so per ABI from cargo-ndk in src/main/jniLibs.
plugins {
    id("com.android.library") version "8.13.0"
    id("org.jetbrains.kotlin.android") version "2.4.21"
}

android {
    namespace = "app.rapport.core"
    compileSdk = 36
    defaultConfig { minSdk = 26 }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { jvmToolchain(17) }

dependencies {
    implementation("net.java.dev.jna:jna:5.19.1@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.11.0")
    // The generated Android cleaner is annotated @RequiresApi.
    implementation("androidx.annotation:annotation:1.9.1")
}
