// What AGP generates from app/build.gradle.kts's buildConfigField, for the
// framework compile only (there is no AGP here).
package app.rapport

object BuildConfig {
    const val DEFAULT_SERVER = "https://rapport.example.com"
}
