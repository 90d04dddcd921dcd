package app.rapport.ui

import androidx.compose.runtime.Composable
import app.rapport.core.AssigneeFilter
import app.rapport.core.ChatKind
import app.rapport.core.MessagingApp
import app.rapport.core.RapportClient
import app.rapport.core.StatusFilter
import app.rapport.core.SyncState
import app.rapport.core.chatFilter
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import org.jetbrains.skia.Bitmap
import org.jetbrains.skia.Image
import org.junit.Assume.assumeTrue
import org.junit.Test

/**
 * inbox_first_frame_ms (scripts/bench.sh, issue 14): on a store the benchmark
 * made (100k chats), the time from opening the inbox screen (its model
 * subscribing to the core's chat list and counts) to the end of the first
 * frame that draws its rows, headless at a phone's size; the baseline is the
 * first frame of the same screen (InboxContent) drawn from the same 50 rows
 * and counts held in a plain list, in the same run: the ratio is what the
 * core and its Flows add. Medians of rapport.bench.runs after
 * rapport.bench.warmup; writes "value baseline" to rapport.bench.out.
 * Skipped unless rapport.bench.db is set.
 */
class InboxFrameBench {
    @Test
    fun inbox_first_frame_ms() {
        val db = System.getProperty("rapport.bench.db").orEmpty()
        assumeTrue("run by scripts/bench.sh", db.isNotEmpty())
        val runs = System.getProperty("rapport.bench.runs").toInt()
        val warmup = System.getProperty("rapport.bench.warmup").toInt()
        RapportClient(db, "http://127.0.0.1:9", MemorySecretStore()).use { client ->
            val filter = chatFilter(status = StatusFilter.OPEN)
            val plain = client.chatPage(filter, null, PAGE).rows
            check(plain.size == PAGE.toInt()) { "the store must have ${PAGE} open chats" }
            val counts = client.statusCounts(filter.copy(status = StatusFilter.ALL))
            val inbox = ArrayList<Double>(runs)
            val baseline = ArrayList<Double>(runs)
            repeat(warmup + runs) { i ->
                val (a, shown) = inboxFrame(client)
                val (b, expected) = firstFrame { InboxContent(filter, plain, counts, SyncState.Idle, null, NoActions) {} }
                if (i >= warmup) { inbox += a; baseline += b }
                // The frame timed is the one that draws the rows (as much ink in the list as the baseline's).
                if (i == warmup + runs - 1) {
                    val (got, want) = ink(shown) to ink(expected)
                    check(got > want * 0.9) { "the inbox's timed frame lacks its rows: $got drawn pixels in the list, $want in the baseline" }
                }
            }
            File(System.getProperty("rapport.bench.out")).writeText("${median(inbox)} ${median(baseline)}\n")
        }
    }

    /** Opening the inbox: frames drawn while the core answers, until one shows the rows. */
    private fun inboxFrame(client: RapportClient): Pair<Double, Image> {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val t0 = System.nanoTime()
        val model = InboxModel(client, scope)
        val scene = phoneScene { InboxScreen(model) {} }
        try {
            // Frames at 60 Hz until one is drawn with the rows and counts in the model
            // (often there before the scene exists: then the first frame counts).
            var t = 0L
            while (true) {
                val ready = model.rows.value?.size == PAGE.toInt() && model.counts.value != null
                val image = scene.render(t)
                if (ready) return (System.nanoTime() - t0) / 1e6 to image
                t += FRAME_NS
            }
        } finally {
            scene.close()
            scope.cancel()
        }
    }

    private fun firstFrame(content: @Composable () -> Unit): Pair<Double, Image> {
        val t0 = System.nanoTime()
        val scene = phoneScene(content)
        try {
            val image = scene.render(0)
            return (System.nanoTime() - t0) / 1e6 to image
        } finally {
            scene.close()
        }
    }

    /** The pixels (every 4th in each direction) unlike the background in the list's half of the screen. */
    private fun ink(image: Image): Int {
        val b = Bitmap.makeFromImage(image)
        val background = b.getColor(b.width - 2, b.height - 2)
        var n = 0
        for (y in b.height / 2 until b.height step 4) for (x in 0 until b.width step 4) if (b.getColor(x, y) != background) n++
        return n
    }

    private fun median(xs: List<Double>) = xs.sorted()[(xs.size - 1) / 2]

    private object NoActions : InboxActions {
        override fun status(s: StatusFilter) {}
        override fun app(a: MessagingApp?) {}
        override fun kind(k: ChatKind?) {}
        override fun assignee(a: AssigneeFilter) {}
        override fun search(text: String) {}
        override fun more() {}
        override fun refresh() {}
    }

    private companion object {
        const val FRAME_NS = 16_666_667L
    }
}
