# How `ctest -j` packs the suite on few cores (scripts/test.sh; issue 11).
# ctest includes this file (TEST_INCLUDE_FILES, tests/CMakeLists.txt) after
# the gtest tests it discovered are defined; the tests defined with add_test
# get the same properties where they are defined (tests/CMakeLists.txt,
# tests/fuzz, tests/fleet). A name no longer defined is ignored by ctest:
# rename a test here when you rename it there.
#
# Most lab tests spend their time waiting (on the kernel, on timers at a time
# scale), so test.sh runs more tests at once than there are cores. The tests
# below compute the whole time: each takes one slot of the `cpu` resource,
# and test.sh's resource spec has one slot per core, so they never pile up
# on the cores together (without --resource-spec-file ctest ignores this).
set_tests_properties(
  TailscaleTypesTest.MutatedRepliesNeverCrash
  MachineSimulationTest.TwentyFourHoursOfFlappingKeepTheInvariants
  PROPERTIES RESOURCE_GROUPS cpu:1)

# COST: ctest starts the costliest tests first. It learns the costs from
# its last run (Testing/Temporary/CTestCostData.txt); a fresh build directory
# has none, so the longest tests (seconds of wall time on an idle 2-core
# machine) are named here, or one of them, started last, would hold up the
# end of the run.
set_tests_properties(DaemonLab.FlappingStaysWithinTheRateLimit
  PROPERTIES COST 35)
set_tests_properties(
  FakeFidelity.OnlineLagsASilentPathDeathAndNeverReachesTheBus
  PROPERTIES COST 32)
set_tests_properties(TailscaleTypesTest.MutatedRepliesNeverCrash
  PROPERTIES COST 18)
set_tests_properties(
  WorldDaemonLab.AStoppedTailscaledIsNoticedWithinProbeIntervalAndACall
  Mwan3DaemonLab.ACrashLeavesTheRouteTheNextStartRemovesIt
  DaemonLab.HungTailscaledOnlyRestartHelps
  PROPERTIES COST 16)
set_tests_properties(
  CheckCommandTest.EachFixtureServedByTheFake
  Mwan3DaemonLab.ModeBCleansUpTailscaledsFlowsAndStartHeals
  Mwan3DaemonLab.AnotherProtocolsRouteOfTheSameShapeIsNeverTouched
  PROPERTIES COST 14)
set_tests_properties(
  FakeFidelity.OnlyStartOrRestartReplaceADeadControlConnection
  DaemonLab.NetlinkOverrunDuringAStormIsResynced
  Mwan3Lab.TrackerEventsFilesAndPolicies
  PROPERTIES COST 11)
