// B1-B10, C1, D1, E2-E7, A8, F7: one chat. The header shows the core's
// countdowns (E4 window, E3 pause) and the Viber month (E6); the timeline
// is the core's live window, older history loading as the agent scrolls
// up; the composer draws the core's decision.
import RapportCore
import SwiftUI

struct ChatView: View {
    @Bindable var app: AppModel
    let client: RapportClient
    @State private var model: ChatModel
    @State private var composer: ComposerModel
    @State private var editing: MessageId?
    @State private var editText = ""
    @State private var showCard = false

    init(app: AppModel, client: RapportClient, chatId: ChatId) {
        self.app = app
        self.client = client
        _model = State(initialValue: ChatModel(client: client, chatId: chatId))
        _composer = State(initialValue: ComposerModel(client: client, chatId: chatId))
    }

    var body: some View {
        VStack(spacing: 0) {
            ChatHeader(model: model)
            ScrollViewReader { proxy in
                List {
                    if !model.olderExhausted {
                        ProgressView().frame(maxWidth: .infinity).onAppear { model.reachedTop() }
                    }
                    ForEach(model.items, id: \.rowId) { item in
                        TimelineRow(item: item, model: model, editing: $editing, editText: $editText)
                    }
                    ForEach(model.failed, id: \.id) { entry in
                        FailedSendRow(entry: entry, model: model)
                    }
                    Color.clear.frame(height: 1).id("bottom")
                }
                .listStyle(.plain)
                .onChange(of: model.items.count) { _, _ in proxy.scrollTo("bottom") }
            }
            ComposerView(composer: composer, chat: model)
        }
        .navigationTitle(model.summary?.chat.title ?? "")
        .navigationBarTitleDisplayMode(.inline)
        .toolbar {
            ToolbarItem(placement: .topBarTrailing) { ChatMenu(model: model, showCard: $showCard) }
        }
        .navigationDestination(isPresented: $showCard) {
            if let chat = model.summary?.chat {
                SubscriberView(client: client, subscriberId: chat.subscriberId, chat: model)
            }
        }
        .alert("Edit message", isPresented: Binding(get: { editing != nil }, set: { if !$0 { editing = nil } })) {
            TextField("Text", text: $editText)
            Button("Save") {
                if let id = editing {
                    let text = editText
                    Task { await model.edit(id, text) }
                }
                editing = nil
            }
            Button("Cancel", role: .cancel) { editing = nil }
        }
        .onAppear {
            model.start()
            composer.decideSoon()
            app.setViewing(model.chatId)
        }
        .onDisappear {
            model.stop()
            app.setViewing(nil)
        }
    }
}

/// E4 time left, E3/F7 pause left, E6 Viber month, A8 state, D1 assignee.
struct ChatHeader: View {
    let model: ChatModel

    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            if let countdowns = model.countdowns {
                switch countdowns.window {
                case .unlimited:
                    EmptyView()
                case .open:
                    if let ends = model.windowEnds {
                        Label { Text(ends, style: .timer) } icon: { Image(systemName: "clock") }
                    }
                case .closed:
                    Label("Support window closed", systemImage: "clock.badge.xmark")
                }
            }
            if let pauseEnds = model.pauseEnds {
                Label { Text(pauseEnds, style: .timer) } icon: { Image(systemName: "pause.circle") }
            }
            if let month = model.viberMonth {
                switch month {
                case let .free(left, used): Text("Viber: \(left) free left, \(used) used this month")
                case let .paid(_, used): Text("Viber: paid, \(used) used this month")
                }
            }
            if let chat = model.summary?.chat {
                HStack {
                    Text(chat.state == .open ? "Open" : "Closed")
                    if let assignee = chat.assignee { Text("· \(model.memberName(assignee))") }
                }
            }
            if let error = model.error { Text(error).foregroundStyle(.red) }
        }
        .font(.caption)
        .frame(maxWidth: .infinity, alignment: .leading)
        .padding(.horizontal)
    }
}

/// A8 close/open, D1 assign, E3/F7 pause/+60/continue, F1-F8 the card.
/// Each button is enabled by the core's checkAction.
struct ChatMenu: View {
    let model: ChatModel
    @Binding var showCard: Bool
    @State private var allowed: Set<String> = []

    var body: some View {
        Menu {
            if let chat = model.summary?.chat {
                Button("Subscriber") { showCard = true }
                if chat.state == .open {
                    Button("Close chat") { Task { await model.close() } }
                } else {
                    Button("Open chat") { Task { await model.reopen() } }
                }
                Menu("Assign") {
                    Button("Nobody") { Task { await model.assign(nil) } }
                    ForEach(model.assignable, id: \.id) { member in
                        Button(member.name) { Task { await model.assign(member.id) } }
                    }
                }
                Button("Pause automation 60 min") { Task { await model.pause(.start) } }
                    .disabled(!allowed.contains("start"))
                Button("+60 min") { Task { await model.pause(.extend) } }
                    .disabled(!allowed.contains("extend"))
                Button("Continue autoflows") { Task { await model.pause(.continue) } }
                    .disabled(!allowed.contains("continue"))
            }
        } label: {
            Image(systemName: "ellipsis.circle")
        }
        .task(id: model.pauseEnds) {
            var now: Set<String> = []
            let chat = model.chatId
            if await model.allowed(.pause(chatId: chat, action: .start)) { now.insert("start") }
            if await model.allowed(.pause(chatId: chat, action: .extend)) { now.insert("extend") }
            if await model.allowed(.pause(chatId: chat, action: .continue)) { now.insert("continue") }
            allowed = now
        }
    }
}

/// E7: a failed send, with the core's code, to retry or discard.
struct FailedSendRow: View {
    let entry: OutboxEntry
    let model: ChatModel

    var body: some View {
        HStack {
            Image(systemName: "exclamationmark.circle").foregroundStyle(.red)
            if case let .failed(code, _) = entry.state { Text("Not sent: \(code)").font(.caption) }
            Spacer()
            Button("Retry") { Task { await model.retry(entry) } }
            Button("Discard", role: .destructive) { Task { await model.discard(entry) } }
        }
        .buttonStyle(.borderless)
    }
}
