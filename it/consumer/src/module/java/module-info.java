/** A user's module: bottomhalf on the module path. */
module example.consumer {
    requires dev.bottomhalf;
}
