// B1-B9, C1: one timeline item as the core sent it: who sent it (B9),
// what it holds (text, a pressed button B2, an attachment B3, an ad click
// or story mention B4, a template), delivery ticks (B5), the quote (B6),
// reactions (B7), edited/deleted marks (B8), an ad response (F4), notes
// (C1). The actions offered are those the core's checkAction allows.
import RapportCore
import SwiftUI

extension TimelineItem {
    /// A stable identity for SwiftUI's diffing (the core's own ids).
    var rowId: String {
        switch self {
        case let .message(m): return "m:" + m.id
        case let .note(n): return "n:" + n.id
        }
    }
}

struct TimelineRow: View {
    let item: TimelineItem
    let model: ChatModel
    @Binding var editing: MessageId?
    @Binding var editText: String

    var body: some View {
        switch item {
        case let .message(message):
            MessageRow(message: message, model: model, editing: $editing, editText: $editText)
        case let .note(note):
            NoteRow(note: note, model: model)
        }
    }
}

struct MessageRow: View {
    let message: Message
    let model: ChatModel
    @Binding var editing: MessageId?
    @Binding var editText: String
    @State private var mayReact = false
    @State private var mayEdit = false
    @State private var mayDelete = false

    private static let reactions = ["👍", "❤️", "😂", "😮", "🙏"]

    private var inbound: Bool {
        if case .subscriber = message.sender { return true }
        return false
    }

    var body: some View {
        HStack {
            if !inbound { Spacer(minLength: 40) }
            VStack(alignment: inbound ? .leading : .trailing, spacing: 4) {
                SenderLine(sender: message.sender, model: model)
                if let quote = message.quote {
                    Text(quote.text).font(.caption).lineLimit(2).padding(6)
                        .background(.quaternary, in: RoundedRectangle(cornerRadius: 6))
                }
                if let ad = message.inReplyToAd {
                    Link("Response to the ad \(ad.name)", destination: URL(string: ad.url) ?? URL(fileURLWithPath: "/"))
                        .font(.caption)
                }
                if message.deletedAt != nil {
                    Text("Message deleted").italic().foregroundStyle(.secondary)
                } else {
                    ContentView(content: message.content, progress: model.progress[message.id])
                }
                HStack(spacing: 4) {
                    ForEach(Array(message.reactions.enumerated()), id: \.offset) { _, reaction in
                        Text(reaction.emoji)
                    }
                    if message.editedAt != nil { Text("edited").font(.caption2).foregroundStyle(.secondary) }
                    Text(Clock.date(message.sentAt), style: .time).font(.caption2).foregroundStyle(.secondary)
                    // B5: the core gives a delivery state only where the app
                    // reports one (and to the agent's own unsent messages).
                    if let delivery = message.delivery { Ticks(delivery: delivery) }
                }
            }
            .padding(8)
            .background(inbound ? Color.gray.opacity(0.15) : Color.blue.opacity(0.15), in: RoundedRectangle(cornerRadius: 10))
            if inbound { Spacer(minLength: 40) }
        }
        .listRowSeparator(.hidden)
        .contextMenu {
            if mayReact {
                ForEach(Self.reactions, id: \.self) { emoji in
                    Button(emoji) { Task { await model.react(message.id, emoji) } }
                }
                Button("Remove reaction") { Task { await model.react(message.id, nil) } }
            }
            if mayEdit, case let .text(text) = message.content {
                Button("Edit") {
                    editText = text
                    editing = message.id
                }
            }
            if mayDelete {
                Button("Delete", role: .destructive) { Task { await model.delete(message.id) } }
            }
        }
        .task(id: message.id) {
            let chat = model.chatId
            let id = message.id
            mayReact = await model.allowed(.react(chatId: chat, messageId: id, emoji: Self.reactions[0]))
            mayEdit = await model.allowed(.editMessage(chatId: chat, messageId: id, text: "-"))
            mayDelete = await model.allowed(.deleteMessage(chatId: chat, messageId: id))
        }
    }
}

/// B9: the bot, a third-party app, or a team member with name and avatar.
struct SenderLine: View {
    let sender: Sender
    let model: ChatModel

    var body: some View {
        switch sender {
        case .subscriber:
            EmptyView()
        case .bot:
            Label("Bot", systemImage: "cpu").font(.caption2).foregroundStyle(.secondary)
        case .thirdPartyApp:
            Label("Other app", systemImage: "app.connected.to.app.below.fill").font(.caption2).foregroundStyle(.secondary)
        case let .member(id):
            HStack(spacing: 4) {
                if let avatar = model.member(id)?.avatarUrl, let url = URL(string: avatar) {
                    AsyncImage(url: url) { image in image.resizable() } placeholder: { Color.gray }
                        .frame(width: 16, height: 16).clipShape(Circle())
                }
                Text(model.memberName(id)).font(.caption2).foregroundStyle(.secondary)
            }
        }
    }
}

/// B2-B4 and templates: what a message holds.
struct ContentView: View {
    let content: Content
    let progress: Double?

    var body: some View {
        switch content {
        case let .text(text):
            Text(text)
        case let .buttonPress(label):
            Label(label, systemImage: "hand.tap")
        case let .attachment(file):
            VStack(alignment: .leading) {
                Label(file.name, systemImage: "paperclip")
                Text("\(ByteCountFormatter.string(fromByteCount: Int64(clamping: file.sizeBytes), countStyle: .file)) · \(file.mime)")
                    .font(.caption).foregroundStyle(.secondary)
                if let caption = file.caption { Text(caption) }
                if let link = file.url, let url = URL(string: link) { Link("Download", destination: url) }
                // E2: upload progress while the outbox sends it.
                if let progress, progress < 1 { ProgressView(value: progress) }
            }
        case let .adClick(ad, text):
            VStack(alignment: .leading) {
                Link("Ad: \(ad.name)", destination: URL(string: ad.url) ?? URL(fileURLWithPath: "/"))
                if let text { Text(text) }
            }
        case let .storyMention(storyUrl):
            if let url = URL(string: storyUrl) {
                Link("Mentioned you in a story", destination: url)
            } else {
                Text("Mentioned you in a story")
            }
        case let .template(name, text):
            VStack(alignment: .leading) {
                Text("Template \(name)").font(.caption).foregroundStyle(.secondary)
                Text(text)
            }
        }
    }
}

/// B5: one grey tick sent, two grey delivered, two blue read.
struct Ticks: View {
    let delivery: Delivery

    var body: some View {
        switch delivery {
        case .pending: Image(systemName: "clock").foregroundStyle(.secondary)
        case .sent: Image(systemName: "checkmark").foregroundStyle(.gray)
        case .delivered: Text("✓✓").foregroundStyle(.gray)
        case .read: Text("✓✓").foregroundStyle(.blue)
        case .failed: Image(systemName: "exclamationmark.circle").foregroundStyle(.red)
        }
    }
}

/// C1: a note, with its author and time; the author edits or deletes it
/// (the core refuses anyone else).
struct NoteRow: View {
    let note: Note
    let model: ChatModel
    @State private var editing = false
    @State private var text = ""

    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            Text("Note · \(model.memberName(note.author))").font(.caption2).foregroundStyle(.orange)
            Text(note.text)
            Text(Clock.date(note.createdAt), style: .time).font(.caption2).foregroundStyle(.secondary)
        }
        .padding(8)
        .background(Color.yellow.opacity(0.15), in: RoundedRectangle(cornerRadius: 10))
        .listRowSeparator(.hidden)
        .contextMenu {
            // C1: hidden where the workspace's platform offers no notes.
            if model.capabilities?.notes != false {
                Button("Edit") {
                    text = note.text
                    editing = true
                }
                Button("Delete", role: .destructive) { Task { await model.deleteNote(note.id) } }
            }
        }
        .alert("Edit note", isPresented: $editing) {
            TextField("Note", text: $text)
            Button("Save") {
                let changed = text
                Task { await model.editNote(note.id, changed) }
            }
            Button("Cancel", role: .cancel) {}
        }
    }
}
