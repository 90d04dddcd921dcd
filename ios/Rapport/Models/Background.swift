// Every call into the core leaves the main actor: the core's blocking
// exports (SQLite reads, queuing a send) run on a detached task, its async
// ones are nonisolated and so run off it too: a slow disk never stalls a
// frame.
import Foundation
import RapportCore

enum Background {
    /// Runs a blocking core call off the main actor and returns its result.
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await Task.detached(priority: .userInitiated) { try work() }.value
    }

    /// The same for a call whose error the screen shows as text.
    static func attempt(_ work: @escaping @Sendable () throws -> Void) async -> String? {
        do {
            try await run(work)
            return nil
        } catch {
            return ErrorText.of(error)
        }
    }
}

/// What a screen shows for an error: the core's stable code (a screen
/// switches on the code, never on the message; no message text is logged).
enum ErrorText {
    static func of(_ error: Error) -> String {
        if let e = error as? RapportError { return e.code }
        return String(describing: type(of: error))
    }
}
