"""Training as one worker of a group of processes (``--strategy multiworker``), in one place.

* :mod:`~fastw2v.multiworker.cluster`: who the workers are (``TF_CONFIG``, read without
  TensorFlow), and local groups for tests and benchmarks;
* :mod:`~fastw2v.multiworker.peers`: the watch the workers keep over each other (meeting,
  heartbeats, goodbyes, the chief's checkpoint handed to the others), so that a lost
  worker ends the group within a bounded time;
* :mod:`~fastw2v.multiworker.group`: a run as one worker: meeting the others, telling them
  how it ended, and what a worker other than the chief does not write.

The step itself is TensorFlow's (``MultiWorkerMirroredStrategy``): the backend glue's
``fit_epoch_distributed`` (:class:`fastw2v.keras_glue.MultiWorkerGlue`) trains an epoch,
and :mod:`fastw2v.runner` runs the lifecycle around it. Nothing here imports TensorFlow.
"""
