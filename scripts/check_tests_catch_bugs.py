"""Check that the tests catch real bugs: apply one deliberate break at a time, run the
tests meant to catch it, and restore the file.

    python scripts/check_tests_catch_bugs.py [FIRST]     # from the repository root

Each line says CAUGHT (the tests failed, as they should) or MISSED. A break that
crashes the test process counts as caught. Keep the breaks in step with the code:
a break whose site is gone stops the script with an assertion. An entry may end with the
environment its tests need (``KERAS_BACKEND`` for a break in one backend's glue).
"""
import os
import subprocess
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MUTATIONS = [
    ("periodic-save SIGINT lost (fit clears the stop flag on start, as before)", "fastw2v/word2vec.py",
     "        corpus = self._prepare(corpus, vocab, cache_dir, quiet)\n",
     "        self._stop.clear()\n        corpus = self._prepare(corpus, vocab, cache_dir, quiet)\n",
     ["tests/test_lifecycle.py::test_sigint_during_a_periodic_checkpoint_stops_at_once"]),
    ("table sigmoid: saturated gradient from the table's last bin instead of the clamp", "fastw2v/hogwild.py",
     "    if f >= MAX_EXP:\n        s = 1.0\n", "    if f >= MAX_EXP:\n        s = sig_table[SIGMOID_TABLE_SIZE - 1]\n",
     ["tests/test_hogwild.py::test_table_sigmoid_saturated_branches_match_reference"]),
    ("shuffle mixes only locally (contiguous buckets)", "fastw2v/permutation.py",
     "            counts[c, bounded(token_hash(key, i), n_buckets)] += 1",
     "            counts[c, i * n_buckets // n] += 1",
     ["tests/test_pairs.py::test_random_permutation_mixes_across_buckets"]),
    ("analogy ties broken by lowest index, not gensim's order", "fastw2v/evaluate.py",
     "            answers[i] = exact.answer(*q[i, :3])", "            pass",
     ["tests/test_vectors_evaluate.py::test_analogy_accuracy_agrees_with_gensim"]),
    ("word-pair header row refused", "fastw2v/evaluate.py",
     "            if first:\n                first = False\n                continue\n", "",
     ["tests/test_vectors_evaluate.py::test_pairs_evaluation_and_spearman", "tests/test_cli.py::test_hogwild_flags_and_report_fields"]),
    ("divergence exits 2", "fastw2v/runner.py", "        return EXIT_DIVERGED\n", "        return EXIT_BAD_INPUT\n",
     ["tests/test_lifecycle.py::test_keras_divergence_exits_3_with_advice"]),
    ("Keras: a resumed epoch's feed skips no batches", "fastw2v/feed.py",
     "            if i < self.skip:\n                continue\n", "",
     ["tests/test_keras.py::test_interrupt_checkpoint_resume_matches_uninterrupted_run", "tests/test_lifecycle.py::test_keras_cli_interrupt_and_resume_matches_uninterrupted_run"]),
    ("Keras: a second stop in one epoch forgets the batches before the first", "fastw2v/keras_trainer.py",
     "        progress = _Progress(self, total_rows, start_rows, self.skip_batches, quiet)\n",
     "        progress = _Progress(self, total_rows, start_rows, 0, quiet)\n",
     ["tests/test_keras.py::test_two_stops_in_one_epoch_resume_where_the_second_left_off"]),
    ("Keras: an epoch's rows counted as full batches (the short last one not settled)", "fastw2v/keras_trainer.py",
     "            progress.settle(feed.rows)\n", "",
     ["tests/test_keras.py::test_two_stops_in_one_epoch_resume_where_the_second_left_off"]),
    ("Keras resume forgets the optimizer state", "fastw2v/keras_trainer.py",
     "            if f\"opt{i}\" in arrays:\n                v.assign(arrays[f\"opt{i}\"])\n", "            pass\n",
     ["tests/test_keras.py::test_interrupt_checkpoint_resume_matches_uninterrupted_run"]),
    ("--prune-at without the recount", "fastw2v/corpus_cache.py",
     "    if stats.prunes:\n        # pruning", "    if False:\n        # pruning",
     ["tests/test_cli.py::test_prune_at_bounds_the_words_counted"]),
    ("the no-TensorFlow message loses the install hint", "fastw2v/runner.py",
     "install the \"\n                         f\"'{EXTRAS[name]}' extra ({install_hint(name)}) or use --backend hogwild\"",
     "install it\"",
     ["tests/test_cli.py::test_without_keras_hogwild_trains_and_keras_says_what_to_install"]),
    ("partial checkpoint state accepted", "fastw2v/word2vec.py",
     "        if not isinstance(state, dict) or set(state) != fields:", "        if not isinstance(state, dict):",
     ["tests/test_lifecycle.py::test_resume_refuses_damaged_checkpoints"]),
    ("shared-negative window: outputs' updates from the inputs after their step", "fastw2v/hogwild.py",
     "    # 5. the outputs' steps\n",
     "    # 5. the outputs' steps (broken: recomputed from the updated inputs)\n    for n in range(n_out):\n"
     "        base = n * dim\n        for i in range(m):\n            g = grads[i * n_out + n]\n"
     "            for d in range(dim):\n                dout[base + d] += g * W_in[ctx[i], d] * np.float32(0.5)\n",
     ["tests/test_hogwild.py::test_window_update_matches_reference"]),
    ("page release trusts the memmap class (a private copy gets zeroed)", "fastw2v/memory.py",
     '        if isinstance(obj, np.memmap) and getattr(obj, "_mmap", None) is not None:\n            return obj.mode in ("r", "r+", "w+")\n',
     "        if isinstance(obj, np.memmap):\n            return True\n",
     ["tests/test_corpus_vocab.py::test_release_pages_keeps_private_memory",
      "tests/test_corpus_vocab.py::test_training_on_a_memmap_copy_sees_its_ids"]),
    ("skipgrams: both halves of a negative's draw give the same context", "fastw2v/keras_compat.py",
     "    return bounded(r, n), state, (r << _S32) | np.uint64(1)\n",
     "    return bounded(r, n), state, r | np.uint64(1)\n",
     ["tests/test_skipgrams_keras.py::test_consecutive_negatives_are_independent"]),
    ("skipgrams: output memory reused while an array still uses it", "fastw2v/memory.py",
     "        return sys.getrefcount(self._buffers[i]) <= self._unused_refs\n",
     "        return True\n",
     ["tests/test_skipgrams_keras.py::test_reused_output_memory_never_touches_live_arrays",
      "tests/test_corpus_vocab.py::test_buffer_pool_reuses_only_memory_nothing_uses"]),
    ("skipgrams: a draw's first two buckets read the same 16 bits", "fastw2v/keras_compat.py",
     "        spare = (r << _S16) | _MARK\n",
     "        spare = r | _MARK\n",
     ["tests/test_skipgrams_keras.py::test_shuffle_is_uniform_across_buckets"]),
    ("skipgrams: the keep draw keeps targets twice as often as the table says", "fastw2v/keras_compat.py",
     "                k &= np.uint8(table[wi] >= u)\n",
     "                k &= np.uint8(table[wi] >= 0.5 * u)\n",
     ["tests/test_skipgrams_keras.py::test_sampling_table_keep_rates_agree_with_keras"]),
    ("row-wise Adagrad (sparse path) steps every occurrence by the whole row sum", "fastw2v/keras_models.py",
     "            per_occurrence = ops.take(scale, indices) / ops.take(counts, indices)\n",
     "            per_occurrence = ops.take(scale, indices)\n",
     ["tests/test_keras.py::test_sgns_row_adagrad_step_matches_reference"]),
    ("row-wise Adagrad (sparse path) on JAX: row writes replace instead of adding", "fastw2v/keras_jax.py",
     "    optimizer.assign(variable, variable.value.at[rows].add(values))\n",
     "    optimizer.assign(variable, variable.value.at[rows].set(values))\n",
     ["tests/test_keras.py::test_sgns_row_adagrad_step_matches_reference"], {"KERAS_BACKEND": "jax"}),
    ("row-wise Adagrad (sparse path) on TensorFlow: row writes replace instead of adding", "fastw2v/keras_tf.py",
     "    optimizer.assign_add(variable, tf.IndexedSlices(values, rows))\n",
     "    optimizer.assign(variable, tf.IndexedSlices(values, rows))\n",
     ["tests/test_keras.py::test_sgns_row_adagrad_step_matches_reference"], {"KERAS_BACKEND": "tensorflow"}),
    ("row-wise Adagrad (dense pass) forgets the accumulator", "fastw2v/keras_models.py",
     "            self.assign_sub(variable, row_sums * scale[:, None])\n",
     "            self.assign_sub(variable, row_sums * lr)\n",
     ["tests/test_keras.py::test_sgns_row_adagrad_step_matches_reference"]),
    ("sparse RMSprop forgets the velocity between steps", "fastw2v/keras_models.py",
     "        _glue.scatter_set(self, velocity, indices, v_new)\n", "",
     ["tests/test_keras.py::test_sparse_rmsprop_touches_only_looked_up_rows"], {"KERAS_BACKEND": "jax"}),
    ("tutorial: the cross-entropy's gradient with the wrong sign", "fastw2v/keras_models.py",
     "    dz = (ops.sigmoid(z) - y) / batch\n", "    dz = (y - ops.sigmoid(z)) / batch\n",
     ["tests/test_keras.py::test_end_to_end_planted_groups"]),
    ("Keras shared negatives: a noise word equal to the row's positive is not masked", "fastw2v/keras_models.py",
     "ops.logical_and(ops.not_equal(pos_groups, noise[:, None, :]), ops.not_equal(pos_groups, -1))",
     "ops.logical_and(ops.not_equal(pos_groups, -2), ops.not_equal(pos_groups, -1 + 0 * noise[:, None, :]))",
     ["tests/test_keras.py::test_sgns_shared_negative_step_matches_reference"]),
    ("Keras shared negatives: each row meets its own negatives", "fastw2v/keras_models.py",
     "    noise = contexts[::G, 1:]  # (n_groups, k)\n",
     "    noise = contexts[::G, 1:]  # (n_groups, k)\n    G, n_groups, pad, noise = 1, n, 0, contexts[:, 1:]\n",
     ["tests/test_keras.py::test_sgns_shared_negative_step_matches_reference"]),
    ("multiworker: both workers train the whole corpus", "fastw2v/keras_trainer.py",
     "        return corpus if self.n_workers == 1 else corpus.share(self.worker_index, self.n_workers)",
     "        return corpus",
     ["tests/test_multiworker.py::test_two_local_workers_train_disjoint_shares_and_only_the_chief_writes"]),
    ("feed: batches not cut to a multiple of the devices", "fastw2v/feed.py",
     "            keep = n - n % self.multiple_of\n", "            keep = n\n",
     ["tests/test_keras.py::test_feed_streams_epochs_with_resubsampling_and_skips"]),
    ("an unsupported KERAS_BACKEND accepted", "fastw2v/keras_backend.py",
     "    if name not in SUPPORTED:\n", "    if False:\n",
     ["tests/test_keras_backends.py::test_an_unsupported_keras_backend_is_one_line_naming_the_supported_ones"]),
    ("a batch too large for the accelerator passes the check", "fastw2v/memory.py",
     "    if available is not None and device_memory(vocab_size, dim, batch_size, columns) > 0.9 * available:\n",
     "    if available is not None and device_memory(vocab_size, dim, batch_size, columns) > 90 * available:\n",
     ["tests/test_keras_backends.py::test_device_memory_estimate"]),
    ("an out-of-memory step keeps its XLA traceback", "fastw2v/keras_trainer.py",
     "            if _glue.is_out_of_memory(exc):\n", "            if False:\n",
     ["tests/test_keras_backends.py::test_a_batch_too_large_for_the_accelerator_exits_2_with_the_estimate"]),
    ("internal errors turned into exit 2", "fastw2v/train.py", "        return EXIT_BUG\n", "        return EXIT_BAD_INPUT\n",
     ["tests/test_lifecycle.py::test_an_internal_error_keeps_its_traceback"]),
]
results = []
for name, path, old, new, tests, *env in MUTATIONS[int(sys.argv[1]) if len(sys.argv) > 1 else 0:]:
    src = open(path).read()
    assert src.count(old) == 1, (name, "mutation site not found once")
    open(path, "w").write(src.replace(old, new))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                           capture_output=True, text=True, timeout=900, env=dict(os.environ, **(env[0] if env else {})))
    finally:
        open(path, "w").write(src)
    caught = r.returncode != 0
    results.append((name, caught))
    print(("CAUGHT  " if caught else "MISSED  ") + name + "  <- " + (r.stdout.strip().splitlines() or ["(no output: rc %d)" % r.returncode])[-1], flush=True)
print(f"{sum(c for _, c in results)} of {len(results)} deliberate breaks caught")
sys.exit(0 if all(c for _, c in results) else 1)
