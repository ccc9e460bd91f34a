#include "app.hpp"

#include <iostream>

int main(int argc, char** argv) { return plexus::cli::plexus_main(argc, argv, std::cin, std::cout, std::cerr); }
