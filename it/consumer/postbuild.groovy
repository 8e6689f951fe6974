// Runs after the last build of invoker.properties: checks what the consumer program printed in each, the same
// lines on the class path and on the module path but for the module bottomhalf's classes were loaded from.
def expected = { String module -> """\
module: ${module}
tasklet blink ran in softirq context: true
work hello ran on kworker/1:0, in_task() = true
timer fired 11 jiffies after mod
java api: kernel closed
tasklet_schedule: rx ran, in_softirq() = true
schedule_work: ran in task context, in_interrupt() = false
mod_timer: fired 21 jiffies after, HZ = 1000
facade: kernel closed
""" }
[classpath: 'unnamed', modulepath: 'dev.bottomhalf'].each { variant, module ->
    def output = new File(basedir, "target/${variant}/output.txt")
    assert output.isFile() : "the ${variant} build did not run the program"
    def actual = output.getText('UTF-8').replace('\r\n', '\n')
    assert actual == expected(module) : "the ${variant} run printed:\n${actual}"
}
true
