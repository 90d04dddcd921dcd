package app.rapport.core

/**
 * A secret store in memory, for the tests and the bench only: it does not
 * ship in the library (apps keep the session in the Keystore/Keychain).
 */
class MemorySecretStore : SecretStore {
    private val map = java.util.concurrent.ConcurrentHashMap<String, String>()
    override fun load(key: String): String? = map[key]
    override fun save(key: String, value: String) { map[key] = value }
    override fun delete(key: String) { map.remove(key) }
}
