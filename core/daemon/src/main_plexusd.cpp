#include <plexus/daemon/server.hpp>

int main(int argc, char** argv) { return plexus::daemon::plexusd_main(argc, argv); }
