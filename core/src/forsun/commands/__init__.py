"""The command lines: ``forsund`` (:mod:`.forsund`) and ``forsun`` (:mod:`.forsun`)."""
