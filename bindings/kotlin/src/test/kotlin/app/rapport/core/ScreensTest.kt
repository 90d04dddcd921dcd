package app.rapport.core

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * The screens' reads (issue 13 §1) against the real reference server: the
 * card, deals and the CRM contact, flows, notes, the Viber month, home and
 * statistics. The server's clock stands 25 hours after its seeded history,
 * so Viber's 24-hour sessions are over and a reply is bot-initiated (E6).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ScreensTest {
    private lateinit var server: TestServer
    private lateinit var client: RapportClient

    @BeforeAll
    fun start() {
        server = TestServer(File(tempDir("rapport-server"), "s.db"), clockOffsetMs = 25 * 3_600_000L)
        client = loggedInClient(server)
    }

    @AfterAll
    fun stop() {
        client.close()
        server.close()
    }

    private fun chats(app: MessagingApp? = null): List<Chat> =
        client.chatPage(chatFilter(app = app), null, 1000u).rows.map { it.chat }

    private fun edit(subscriber: String, changes: SubscriberChanges) {
        client.checkAction(Action.EditSubscriber(subscriber, changes))
        client.runAction(Action.EditSubscriber(subscriber, changes))
    }

    @Test
    fun f1_f5_f6_g2_the_card_shows_what_the_agent_changes_and_flows_are_searchable() {
        val chat = chats(MessagingApp.TELEGRAM).first()
        val card = assertNotNull(client.subscriber(chat.subscriberId))
        assertEquals(chat.subscriberId, card.id)
        assertEquals(MessagingApp.TELEGRAM, card.app)
        assertTrue(card.name.isNotEmpty())
        assertNull(client.subscriber("no-such-subscriber"))

        // F6: flows by name, case-insensitive; every flow for an empty query.
        val flows = runBlocking { client.searchFlows("ORDER") }
        assertEquals(listOf("Order status"), flows.map { it.name })
        assertTrue(runBlocking { client.searchFlows("") }.size > flows.size)
        assertEquals(emptyList(), runBlocking { client.searchFlows("no such flow") })

        // F5, F6, G2: one edit through the outbox, then the card shows it.
        edit(
            card.id,
            SubscriberChanges(
                variables = mapOf("city" to "Lisboa"),
                addTags = listOf("vip"),
                flowId = flows.single().id,
                crmContact = CrmContact("Ana", "Silva", null),
            ),
        )
        eventually(15_000, "the card shows the edit") {
            val c = client.subscriber(card.id)
            c?.activeFlow != null && c.variables["city"] == "Lisboa"
        }
        val after = assertNotNull(client.subscriber(card.id))
        assertEquals("Order status", after.activeFlow?.name)
        assertTrue(after.activeFlow!!.queuedMessages > 0u, "F6: its queued messages")
        assertTrue("vip" in after.tags)
        assertEquals(CrmContact("Ana", "Silva", null), after.crmContact)
        // F6: stopping the flow.
        edit(card.id, SubscriberChanges(flowId = ""))
        eventually(15_000, "the flow stops") { client.subscriber(card.id)?.activeFlow == null }
    }

    @Test
    fun f1_f3_group_info_and_instagram_follow_state_are_on_the_card() {
        val group = chats(MessagingApp.TELEGRAM).firstOrNull { it.kind == ChatKind.GROUP }
        if (group != null) assertNotNull(client.subscriber(group.subscriberId)?.group, "F1: a group's card")
        val insta = chats(MessagingApp.INSTAGRAM).first()
        assertNotNull(client.subscriber(insta.subscriberId)?.instagram, "F3: the follow state")
        assertNull(client.subscriber(chats(MessagingApp.WHATSAPP).first().subscriberId)?.instagram)
    }

    @Test
    fun g1_g3_a_deal_added_then_moved_shows_in_the_subscribers_deals() {
        val subscriber = chats(MessagingApp.WHATSAPP).first().subscriberId
        val name = "Screens deal"
        val add = Action.AddDeal(
            subscriber, Named("p1", "Sales"), Named("st1", "New"), name, 12_345L, "EUR",
        )
        client.checkAction(add)
        client.runAction(add)
        eventually(15_000, "the deal is stored") { client.deals(subscriber).any { it.name == name } }
        val deal = client.deals(subscriber).first { it.name == name }
        assertEquals(12_345L, deal.amountMinor)
        assertEquals(deal, client.deal(deal.id))
        client.runAction(Action.EditDeal(deal.id, Named("st2", "Won"), null, 20_000L))
        eventually(15_000, "the deal moves") { client.deal(deal.id)?.stage?.name == "Won" }
        assertEquals(20_000L, client.deal(deal.id)?.amountMinor)
        assertEquals(deal.id, client.deals(subscriber).first().id, "most recently updated first")
        assertNull(client.deal("no-such-deal"))
    }

    @Test
    fun c1_a_note_added_edited_and_deleted_reads_back_from_the_timeline() {
        val chat = chats(MessagingApp.MESSENGER).first().id
        val text = "screens note ${System.nanoTime()}"
        client.runAction(Action.AddNote(chat, text))
        fun note(): Note? = client.timelinePage(chat, null, 200u).items
            .filterIsInstance<TimelineItem.Note>().map { it.v1 }.firstOrNull { it.text.startsWith(text) }
        eventually(15_000, "the note is stored") { note() != null }
        val id = note()!!.id
        assertEquals(note(), (client.timelineItem(chat, TimelineItemId.Note(id)) as TimelineItem.Note).v1)
        client.runAction(Action.EditNote(chat, id, "$text edited"))
        eventually(15_000, "the note is edited") { note()?.editedAt != null }
        assertEquals("$text edited", note()?.text)
        client.runAction(Action.DeleteNote(chat, id))
        eventually(15_000, "the note is deleted") { note() == null }
        assertNull(client.timelineItem(chat, TimelineItemId.Note(id)))
    }

    @Test
    fun e6_the_viber_month_says_free_left_or_paid_and_counts_a_bot_initiated_reply() {
        val viber = chats(MessagingApp.VIBER)
        // A chat of the bot with the free quota whose 24-hour session is over.
        val free = viber.first {
            it.botId == "b-viber-0" &&
                (client.decide(it.id, Outgoing.Text("hello")) as? Decision.Allowed)?.cost is Cost.FreeQuota
        }
        val month = client.viberMonth(free.id) as ViberMonth.Free
        assertEquals(10_000u, month.left + month.used)
        assertEquals(month, client.viberBotMonth("b-viber-0"))
        val decision = client.decide(free.id, Outgoing.Text("hello")) as Decision.Allowed
        assertEquals(Cost.FreeQuota(month.left - 1u), decision.cost, "the month agrees with the cost")
        client.sendText(free.id, "hello")
        eventually(15_000, "the month counts the reply") {
            client.viberMonth(free.id) == ViberMonth.Free(month.left - 1u, month.used + 1u)
        }
        // A bot created after 5 February 2024 pays for each one.
        val paid = client.viberBotMonth("b-viber-1")
        assertTrue(paid is ViberMonth.Paid && !paid.freeQuota, "$paid")
        viber.firstOrNull { it.botId == "b-viber-1" }?.let { assertEquals(paid, client.viberMonth(it.id)) }
        assertNull(client.viberMonth(chats(MessagingApp.TELEGRAM).first().id), "no month outside Viber")
        assertNull(client.viberBotMonth("b-telegram-0"))
        assertFailsWith<RapportException.UnknownChat> { client.viberMonth("no-such-chat") }
    }

    @Test
    fun a4_a7_i1_s5_home_statistics_me_and_unsent_commands() {
        assertEquals(client.loginInfo()?.memberId, client.me())
        val home = client.home(10u)
        assertEquals(10, home.size)
        val times = home.map { it.preview?.at ?: 0L }
        assertEquals(times.sortedDescending(), times, "A7: newest first")
        val stats = client.stats()
        assertNull(stats.first().botId, "I1: the total first")
        val bots = client.bots().map { it.id }.toSet()
        assertTrue(stats.drop(1).all { it.botId in bots }, "I1: each bot is named by bots()")
        assertEquals(stats.drop(1).sumOf { it.subscribers }, stats.first().subscribers)
        assertEquals(client.outbox().size.toULong(), client.unsentCommands())
    }
}
