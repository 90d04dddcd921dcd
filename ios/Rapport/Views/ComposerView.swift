// E1-E5: the composer draws the core's decision for what is typed: the
// window and Viber cost when allowed, the refusal (with the limit and the
// length in the core's unit) and the alternatives it offers when not.
// E2: attach a file. C1: switch to an internal note.
import RapportCore
import SwiftUI
import UniformTypeIdentifiers

struct ComposerView: View {
    @Bindable var composer: ComposerModel
    let chat: ChatModel
    @State private var picking = false

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            DecisionLine(decision: composer.decision, mode: composer.mode)
            if let budget = composer.budget, !composer.text.isEmpty {
                // E1: the counter in the app's own unit, from the core.
                Text("\(budget.left) \(UnitName.of(budget.unit)) left")
                    .font(.caption2)
                    .foregroundStyle(budget.left < 0 ? Color.red : Color.secondary)
            }
            if !composer.alternatives.isEmpty {
                HStack {
                    ForEach(composer.alternatives, id: \.self) { alternative in
                        Button(AlternativeName.of(alternative)) { composer.use(alternative) }
                            .buttonStyle(.bordered)
                    }
                }
            }
            if let error = composer.error { Text(error).font(.caption).foregroundStyle(.red) }
            HStack {
                Menu {
                    Button("Reply") { composer.mode = .text }
                    // C1: hidden where the workspace's platform offers no notes.
                    if chat.capabilities?.notes != false {
                        Button("Internal note") { composer.mode = .note }
                    }
                    Button("Attach a file") { picking = true }
                } label: {
                    Image(systemName: "plus.circle")
                }
                TextField(placeholder, text: $composer.text, axis: .vertical)
                    .lineLimit(1...5)
                    .textFieldStyle(.roundedBorder)
                Button {
                    Task { await composer.send(chat: chat) }
                } label: {
                    Image(systemName: "paperplane.fill")
                }
                .disabled(!composer.mayTap)
            }
        }
        .padding(8)
        .fileImporter(isPresented: $picking, allowedContentTypes: [.item]) { result in
            if case let .success(url) = result {
                Task { await composer.sendFile(url, chat: chat) }
            }
        }
    }

    private var placeholder: String {
        switch composer.mode {
        case .text: return NSLocalizedString("Message", comment: "composer")
        case .template: return NSLocalizedString("Template name", comment: "composer")
        case .tagged: return NSLocalizedString("Message with tag", comment: "composer")
        case .note: return NSLocalizedString("Internal note", comment: "composer")
        }
    }
}

/// The core's decision, drawn as it is.
struct DecisionLine: View {
    let decision: Decision?
    let mode: ComposerModel.Mode

    var body: some View {
        Group {
            if mode == .note {
                Text("Internal note: the team sees it, the subscriber never does")
            } else if let decision {
                switch decision {
                case let .allowed(_, cost):
                    switch cost {
                    case .free: EmptyView()
                    case let .freeQuota(remainingAfter): Text("Viber: \(remainingAfter) free messages left after this")
                    case .paid: Text("Viber: this message is paid")
                    }
                case let .refused(reason, _):
                    Text(RefusalText.of(reason)).foregroundStyle(.red)
                }
            }
        }
        .font(.caption)
    }
}

enum RefusalText {
    static func of(_ reason: Refusal) -> String {
        switch reason {
        case .textEmpty: return ""
        case let .textTooLong(limit, actual, unit): return "\(actual)/\(limit) \(UnitName.of(unit))"
        case let .attachmentTooLarge(limitBytes, actualBytes):
            return "Too large: \(bytes(actualBytes)) of \(bytes(limitBytes))"
        case let .executable(kind): return "Executables cannot be sent (\(kind))"
        case .fileEmpty: return "The file is empty"
        case .notAssignable: return "This member cannot be assigned"
        case .windowClosed: return "The support window is closed"
        case let .notSupported(app): return "Not possible on \(AppName.of(app))"
        case .wrongMessage: return "Not possible for this message"
        case .tooOld: return "Too old"
        case let .fieldTooLong(field, limit, actual, unit): return "\(field): \(actual)/\(limit) \(UnitName.of(unit))"
        case let .notOffered(feature): return "Not offered here: \(FeatureName.of(feature))"
        }
    }

    private static func bytes(_ n: UInt64) -> String {
        ByteCountFormatter.string(fromByteCount: Int64(clamping: n), countStyle: .file)
    }
}

/// A feature a backend may lack (Capabilities; issue 17: SendPulse).
enum FeatureName {
    static func of(_ feature: String) -> String {
        switch feature {
        case "edit_delete": return NSLocalizedString("editing sent messages", comment: "feature")
        case "quotes": return NSLocalizedString("reply quotes", comment: "feature")
        case "files": return NSLocalizedString("sending files", comment: "feature")
        case "reactions": return NSLocalizedString("reactions", comment: "feature")
        case "templates": return NSLocalizedString("WhatsApp templates", comment: "feature")
        case "flows": return NSLocalizedString("starting flows", comment: "feature")
        case "deals": return NSLocalizedString("CRM deals", comment: "feature")
        case "notes": return NSLocalizedString("internal notes", comment: "feature")
        default: return feature
        }
    }
}

enum UnitName {
    static func of(_ unit: LengthUnit) -> String {
        switch unit {
        case .characters: return NSLocalizedString("characters", comment: "length unit")
        case .utf16Units: return NSLocalizedString("characters", comment: "length unit")
        case .utf8Bytes: return NSLocalizedString("bytes", comment: "length unit")
        }
    }
}

enum AlternativeName {
    static func of(_ alternative: Alternative) -> String {
        switch alternative {
        case .whatsappTemplate: return NSLocalizedString("Send a template", comment: "E5")
        case let .messengerTag(tag):
            switch tag {
            case .humanAgent: return "HUMAN_AGENT"
            case .confirmedEventUpdate: return "CONFIRMED_EVENT_UPDATE"
            case .postPurchaseUpdate: return "POST_PURCHASE_UPDATE"
            case .accountUpdate: return "ACCOUNT_UPDATE"
            }
        }
    }
}
