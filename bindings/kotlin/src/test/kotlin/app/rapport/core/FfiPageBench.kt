package app.rapport.core

import java.io.File
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test

/**
 * ffi_page_us (scripts/bench.sh): the median time to fetch the first page of
 * 50 chat rows through the bindings on the JVM, from a store the benchmark
 * made. `rapport-bench ffi-page-baseline` makes the same call from Rust with
 * the same warm-up and count. Skipped unless rapport.bench.db is set.
 */
class FfiPageBench {
    @Test
    fun ffi_page_us() {
        val db = System.getProperty("rapport.bench.db").orEmpty()
        assumeTrue(db.isNotEmpty(), "run by scripts/bench.sh")
        val runs = System.getProperty("rapport.bench.runs").toInt()
        val warmup = System.getProperty("rapport.bench.warmup", "300").toInt()
        RapportClient(db, "http://127.0.0.1:9", MemorySecretStore()).use { client ->
            val filter = chatFilter()
            val us = ArrayList<Double>(runs)
            repeat(warmup + runs) { i ->
                val t = System.nanoTime()
                val page = client.chatPage(filter, null, 50u)
                val took = (System.nanoTime() - t) / 1000.0
                check(page.rows.size == 50) { "the store must have 50 chats" }
                if (i >= warmup) us += took
            }
            us.sort()
            File(System.getProperty("rapport.bench.out")).writeText("${us[Math.round((us.size - 1) * 0.5).toInt()]}\n")
        }
    }
}
