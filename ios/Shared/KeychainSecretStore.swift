// S5: the core's SecretStore over the iOS Keychain. Each key is a generic
// password item (service "app.rapport.session", account = the core's key)
// in the keychain access group the app and the extension share, readable
// after the first unlock since boot and never migrated to another device
// (kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly): a push arriving on a
// locked phone can still be answered. Errors go back to the core as
// SecretStoreError.Failed with the OSStatus only (never the secret).
import Foundation
import RapportCore
import Security

final class KeychainSecretStore: SecretStore, @unchecked Sendable {
    private let service = "app.rapport.session"
    private let accessGroup: String

    init(accessGroup: String = SharedContainer.keychainGroup) {
        self.accessGroup = accessGroup
    }

    private func query(_ key: String) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: key,
            kSecAttrAccessGroup as String: accessGroup,
        ]
    }

    private func failure(_ what: String, _ status: OSStatus) -> SecretStoreError {
        .Failed(detail: "keychain \(what): OSStatus \(status)")
    }

    func load(key: String) throws -> String? {
        var q = query(key)
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess else { throw failure("read", status) }
        guard let data = item as? Data, let value = String(data: data, encoding: .utf8) else {
            throw SecretStoreError.Failed(detail: "keychain read: not UTF-8 data")
        }
        return value
    }

    func save(key: String, value: String) throws {
        let data = Data(value.utf8)
        let update: [String: Any] = [
            kSecValueData as String: data,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
        ]
        let status = SecItemUpdate(query(key) as CFDictionary, update as CFDictionary)
        if status == errSecSuccess { return }
        guard status == errSecItemNotFound else { throw failure("update", status) }
        var add = query(key)
        add[kSecValueData as String] = data
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else { throw failure("add", added) }
    }

    func delete(key: String) throws {
        let status = SecItemDelete(query(key) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw failure("delete", status)
        }
    }
}
