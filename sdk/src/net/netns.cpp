// placeholder: in_netns lands here
