// The Android app (issue 14): `:app` (Compose screens, notifications, Keystore)
// on `:rapport-core` (the generated bindings, Flows.kt, the core's .so per ABI).
// Versions in gradle/libs.versions.toml. Built by scripts/build-android.sh.
pluginManagement {
    repositories { google(); mavenCentral(); gradlePluginPortal() }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
        // rustls-platform-verifier's Kotlin half, from its crate (scripts/build-android.sh sets it).
        providers.gradleProperty("rustlsPlatformVerifierRepo").orNull?.let { dir ->
            maven { url = uri(dir); metadataSources { mavenPom(); artifact() } }
        }
    }
}
rootProject.name = "rapport-android"
include(":app")
include(":rapport-core")
