// plexus::net in one include: namespaces, netlink links/addresses/routes, sysctl, ConfigureIface.
#pragma once

#include <plexus/net/error.hpp>
#include <plexus/net/handles.hpp>
#include <plexus/net/iface.hpp>
#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>
#include <plexus/net/sysctl.hpp>
