// The whole program: read and check the stack's settings, build the relay, export what the user needs.
return await Pulumi.Deployment.RunAsync(HomeRelay.Components.RelayProgram.Run);
